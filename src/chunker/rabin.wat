;; The inner loop of restic's Rabin chunker (restic/chunker v0.4.0) in WebAssembly, which has
;; the 64-bit integers the JavaScript path must split into int32 halves. Source of truth for
;; rabin-wasm.generated.ts (assembled by bench/build-rabin-wasm.ts with wabt; a unit test checks
;; that the committed bytes are this text assembled).
;;
;; The digest is kept scaled to degree 53, as in rabin.ts: D = restic's digest * x^s with
;; s = 53 - deg(P), reduced modulo P' = P * x^s. One byte b in, with outgoing byte o (64 bytes
;; back in the input) and top byte a = D >> 45:
;;     D' = (D * x^8 mod x^53) ^ b*x^s ^ T0[a] ^ O0[o]
;; where Tk[v] = v * x^(53+8k) mod P' and Ok[v] = v * x^(512+8k+s) mod P'. For s = 0 (degree
;; 53, every polynomial restic makes) the main loop takes four bytes per step from D:
;;     D4 = (D mod x^21) * x^32 ^ b0b1b2b3 ^ T3[a3] ^ T2[a2] ^ T1[a1] ^ T0[a0]
;;                               ^ O3[o0] ^ O2[o1] ^ O1[o2] ^ O0[o3]
;; (a3..a0 the four top bytes of D), a chain of one table load per four bytes instead of four.
;; D1, D2 (from D) and D3 (from D2) are computed beside it only to test the split mask; when
;; any of them matches, the byte loop redoes those four bytes and stops at the first match.
;;
;; Memory (one instance per thread; JavaScript writes the tables and the input):
;;   0x0000 T0..T3, 0x2000 O0..O3: eight tables of 256 little-endian u64
;;   0x4000 the 64 bytes before the block (the window's outgoing bytes)
;;   0x4040 the block: up to 512 KiB of input
(module
  (memory (export "memory") 9)
  ;; the scaled digest, in and out of scan
  (global $digest (export "digest") (mut i64) (i64.const 0))

  ;; Hash the bytes at [i, end) (addresses; the 64 bytes before i are the window). Returns the
  ;; address just past the first byte after which (digest & mask) == 0, or -1 if none; the
  ;; digest after the last byte hashed is left in $digest. The mask (scaled like the digest)
  ;; must lie within bits 0..52; shift is 53 - deg(P).
  (func (export "scan") (param $i i32) (param $end i32) (param $mask i64) (param $shift i64)
    (result i32)
    (local $d i64) (local $q i32) (local $e i32) (local $a i64)
    (local $d1 i64) (local $d2 i64) (local $d3 i64) (local $d4 i64)
    (local $o0 i32) (local $o1 i32) (local $o2 i32) (local $o3 i32)
    (local $b0 i64) (local $b1 i64) (local $b2 i64) (local $b3 i64)
    (local.set $d (global.get $digest))
    ;; q walks the outgoing bytes; the incoming byte is at q + 64
    (local.set $q (i32.sub (local.get $i) (i32.const 64)))
    (block $bytes
      (br_if $bytes (i64.ne (local.get $shift) (i64.const 0)))
      (local.set $e (i32.sub (local.get $end) (i32.const 67)))
      (br_if $bytes (i32.ge_s (local.get $q) (local.get $e)))
      (loop $four
        (local.set $o0 (i32.load8_u offset=0 (local.get $q)))
        (local.set $o1 (i32.load8_u offset=1 (local.get $q)))
        (local.set $o2 (i32.load8_u offset=2 (local.get $q)))
        (local.set $o3 (i32.load8_u offset=3 (local.get $q)))
        (local.set $b0 (i64.load8_u offset=64 (local.get $q)))
        (local.set $b1 (i64.load8_u offset=65 (local.get $q)))
        (local.set $b2 (i64.load8_u offset=66 (local.get $q)))
        (local.set $b3 (i64.load8_u offset=67 (local.get $q)))
        (local.set $a (i64.shr_u (local.get $d) (i64.const 45)))
        ;; D1 = D*x^8 ^ b0 ^ T0[a3] ^ O0[o0], only tested: its bits 53.. are left (the mask has none)
        (local.set $d1
          (i64.xor
            (i64.xor (i64.shl (local.get $d) (i64.const 8)) (local.get $b0))
            (i64.xor
              (i64.load offset=0x0000 (i32.shl (i32.wrap_i64 (local.get $a)) (i32.const 3)))
              (i64.load offset=0x2000 (i32.shl (local.get $o0) (i32.const 3))))))
        ;; D2 = D*x^16 ^ b0b1 ^ T1[a3] ^ T0[a2] ^ O1[o0] ^ O0[o1]
        (local.set $d2
          (i64.xor
            (i64.xor
              (i64.xor
                (i64.and (i64.shl (local.get $d) (i64.const 16)) (i64.const 0x1fffffffffffff))
                (i64.or (i64.shl (local.get $b0) (i64.const 8)) (local.get $b1)))
              (i64.xor
                (i64.load offset=0x0800 (i32.shl (i32.wrap_i64 (local.get $a)) (i32.const 3)))
                (i64.load offset=0x0000
                  (i32.shl
                    (i32.and (i32.wrap_i64 (i64.shr_u (local.get $d) (i64.const 37)))
                      (i32.const 255))
                    (i32.const 3)))))
            (i64.xor
              (i64.load offset=0x2800 (i32.shl (local.get $o0) (i32.const 3)))
              (i64.load offset=0x2000 (i32.shl (local.get $o1) (i32.const 3))))))
        ;; D3 = D2*x^8 ^ b2 ^ T0[top byte of D2] ^ O0[o2], only tested, like D1
        (local.set $d3
          (i64.xor
            (i64.xor (i64.shl (local.get $d2) (i64.const 8)) (local.get $b2))
            (i64.xor
              (i64.load offset=0x0000
                (i32.shl (i32.wrap_i64 (i64.shr_u (local.get $d2) (i64.const 45)))
                  (i32.const 3)))
              (i64.load offset=0x2000 (i32.shl (local.get $o2) (i32.const 3))))))
        ;; D4 = (D mod x^21)*x^32 ^ b0b1b2b3 ^ T3[a3] ^ T2[a2] ^ T1[a1] ^ T0[a0]
        ;;      ^ O3[o0] ^ O2[o1] ^ O1[o2] ^ O0[o3]
        (local.set $d4
          (i64.xor
            (i64.xor
              (i64.xor
                (i64.shl (i64.and (local.get $d) (i64.const 0x1fffff)) (i64.const 32))
                (i64.or
                  (i64.or (i64.shl (local.get $b0) (i64.const 24))
                    (i64.shl (local.get $b1) (i64.const 16)))
                  (i64.or (i64.shl (local.get $b2) (i64.const 8)) (local.get $b3))))
              (i64.xor
                (i64.xor
                  (i64.load offset=0x1800
                    (i32.shl (i32.wrap_i64 (local.get $a)) (i32.const 3)))
                  (i64.load offset=0x1000
                    (i32.shl
                      (i32.and (i32.wrap_i64 (i64.shr_u (local.get $d) (i64.const 37)))
                        (i32.const 255))
                      (i32.const 3))))
                (i64.xor
                  (i64.load offset=0x0800
                    (i32.shl
                      (i32.and (i32.wrap_i64 (i64.shr_u (local.get $d) (i64.const 29)))
                        (i32.const 255))
                      (i32.const 3)))
                  (i64.load offset=0x0000
                    (i32.shl
                      (i32.and (i32.wrap_i64 (i64.shr_u (local.get $d) (i64.const 21)))
                        (i32.const 255))
                      (i32.const 3))))))
            (i64.xor
              (i64.xor
                (i64.load offset=0x3800 (i32.shl (local.get $o0) (i32.const 3)))
                (i64.load offset=0x3000 (i32.shl (local.get $o1) (i32.const 3))))
              (i64.xor
                (i64.load offset=0x2800 (i32.shl (local.get $o2) (i32.const 3)))
                (i64.load offset=0x2000 (i32.shl (local.get $o3) (i32.const 3)))))))
        ;; a match in these four bytes: the byte loop finds which
        (br_if $bytes
          (i32.or
            (i32.or
              (i64.eqz (i64.and (local.get $d1) (local.get $mask)))
              (i64.eqz (i64.and (local.get $d2) (local.get $mask))))
            (i32.or
              (i64.eqz (i64.and (local.get $d3) (local.get $mask)))
              (i64.eqz (i64.and (local.get $d4) (local.get $mask))))))
        (local.set $d (local.get $d4))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (br_if $four (i32.lt_s (local.get $q) (local.get $e)))))
    ;; One byte per step: any degree, the last bytes, and the step that matched.
    (local.set $e (i32.sub (local.get $end) (i32.const 64)))
    (if (i32.lt_s (local.get $q) (local.get $e))
      (then
        (loop $one
          (local.set $d
            (i64.xor
              (i64.xor
                (i64.and (i64.shl (local.get $d) (i64.const 8)) (i64.const 0x1fffffffffffff))
                (i64.shl (i64.load8_u offset=64 (local.get $q)) (local.get $shift)))
              (i64.xor
                (i64.load offset=0x0000
                  (i32.shl (i32.wrap_i64 (i64.shr_u (local.get $d) (i64.const 45)))
                    (i32.const 3)))
                (i64.load offset=0x2000
                  (i32.shl (i32.load8_u (local.get $q)) (i32.const 3))))))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (if (i64.eqz (i64.and (local.get $d) (local.get $mask)))
            (then
              (global.set $digest (local.get $d))
              (return (i32.add (local.get $q) (i32.const 64)))))
          (br_if $one (i32.lt_s (local.get $q) (local.get $e))))))
    (global.set $digest (local.get $d))
    (i32.const -1))
)
