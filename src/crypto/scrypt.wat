;; scrypt's ROMix (RFC 7914 section 5) in WebAssembly SIMD, with the classic time-memory
;; trade-off: only every k-th entry of the table V is stored (k = 2^klog), and the second loop
;; recomputes V[j] from the stored V[j - j mod k] with (j mod k) more BlockMix steps. Source of
;; truth for scrypt-wasm.generated.ts (assembled by bench/build-wasm.ts with wabt, SIMD
;; enabled; a unit test checks that the committed bytes are this text assembled).
;; scrypt-wasm.ts does PBKDF2-HMAC-SHA256 around it and calls smix once per lane, or smix2 once
;; per pair of lanes.
;;
;; Salsa20/8 uses the diagonal layout of Colin Percival's SSE2 scrypt: each 64-byte sub-block
;; is kept with its sixteen words permuted, word i of the stored form being word (5i mod 16)
;; of the block, so the four v128 rows hold the diagonals
;;     X0 = (x0, x5, x10, x15)   X1 = (x4, x9, x14, x3)
;;     X2 = (x8, x13, x2, x7)    X3 = (x12, x1, x6, x11)
;; A column round is then four vector quarter-steps on whole rows; rotating the lanes of X1,
;; X2, X3 (one i32x4 shuffle each) lines the rows up for the row round, and the inverse
;; rotation restores the layout. The permutation commutes with XOR and addition, and word 0
;; stays in place, so BlockMix, the XOR with V[j] and Integerify work on the permuted form
;; unchanged; smix permutes its lane on the way in and back on the way out.
;;
;; A quarter-step is a chain of four dependent operations (add; two shifts; or; xor: wasm has
;; no vector rotate), against three for scalar code with x86's rol, so one lane runs ~1.4x
;; slower than OpenSSL's C; but the chain leaves the vector units mostly idle, and smix2 runs
;; two lanes' chains side by side for about the price of one.
;;
;; Memory of smix (blk = 128·r bytes; scrypt-wasm.ts grows it to (5 + N/k)·blk first):
;;   0        B: the lane, in RFC byte order (in and out of smix)
;;   blk      X, 2·blk Y: the state and BlockMix's output (their roles swap every step)
;;   3·blk    T, 4·blk U: V[j] being recomputed from a stored entry (roles swap too)
;;   5·blk    V: N/k stored states, entry i being the state before step k·i
;; smix2 has its own layout of (10 + 2·N/k)·blk bytes, described there.
(module
  (memory (export "memory") 1)

  ;; Permute n 64-byte sub-blocks from src to dst: dst word i = src word (5i mod 16), or the
  ;; inverse (dst word (5i mod 16) = src word i) if $inv. src and dst must not overlap.
  (func $permute (param $src i32) (param $dst i32) (param $n i32) (param $inv i32)
    (local $end i32) (local $i i32) (local $s i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 6))))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $i (i32.const 0))
        (loop $words
          ;; s = byte offset of word (5i mod 16)
          (local.set $s
            (i32.shl (i32.and (i32.mul (local.get $i) (i32.const 5)) (i32.const 15)) (i32.const 2)))
          (if (local.get $inv)
            (then
              (i32.store (i32.add (local.get $dst) (local.get $s))
                (i32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))))
            (else
              (i32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
                (i32.load (i32.add (local.get $src) (local.get $s))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $words (i32.lt_u (local.get $i) (i32.const 16))))
        (local.set $src (i32.add (local.get $src) (i32.const 64)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
        (br $blocks))))

  ;; dst = BlockMix_salsa20/8(src), or BlockMix(src XOR src2) if $xor (RFC 7914 section 4),
  ;; all 2r sub-blocks in the permuted layout. dst must not overlap src or src2.
  ;;   X = B[2r-1]; for i in 0..2r: X = Salsa20/8(X ^ B[i]); Y[i] = X
  ;;   dst = Y[0], Y[2], ..., Y[2r-2], Y[1], Y[3], ..., Y[2r-1]
  (func $blockmix (param $src i32) (param $src2 i32) (param $xor i32) (param $dst i32)
    (param $r i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $z0 v128) (local $z1 v128) (local $z2 v128) (local $z3 v128)
    (local $t v128)
    (local $i i32) (local $n i32) (local $a i32) (local $b i32) (local $out i32)
    (local $round i32)
    (local.set $n (i32.shl (local.get $r) (i32.const 7)))
    ;; X = B[2r-1] (^ B2[2r-1])
    (local.set $a (i32.add (local.get $src) (i32.sub (local.get $n) (i32.const 64))))
    (local.set $x0 (v128.load offset=0 (local.get $a)))
    (local.set $x1 (v128.load offset=16 (local.get $a)))
    (local.set $x2 (v128.load offset=32 (local.get $a)))
    (local.set $x3 (v128.load offset=48 (local.get $a)))
    (if (local.get $xor)
      (then
        (local.set $b (i32.add (local.get $src2) (i32.sub (local.get $n) (i32.const 64))))
        (local.set $x0 (v128.xor (local.get $x0) (v128.load offset=0 (local.get $b))))
        (local.set $x1 (v128.xor (local.get $x1) (v128.load offset=16 (local.get $b))))
        (local.set $x2 (v128.xor (local.get $x2) (v128.load offset=32 (local.get $b))))
        (local.set $x3 (v128.xor (local.get $x3) (v128.load offset=48 (local.get $b))))))
    (local.set $i (i32.const 0))
    (loop $sub
      ;; Z = X ^ (B[i] ^ B2[i]): Salsa20/8's input, kept for the final addition (B ^ B2 first,
      ;; off the dependency chain through X)
      (local.set $a (i32.add (local.get $src) (local.get $i)))
      (local.set $z0 (v128.load offset=0 (local.get $a)))
      (local.set $z1 (v128.load offset=16 (local.get $a)))
      (local.set $z2 (v128.load offset=32 (local.get $a)))
      (local.set $z3 (v128.load offset=48 (local.get $a)))
      (if (local.get $xor)
        (then
          (local.set $b (i32.add (local.get $src2) (local.get $i)))
          (local.set $z0 (v128.xor (local.get $z0) (v128.load offset=0 (local.get $b))))
          (local.set $z1 (v128.xor (local.get $z1) (v128.load offset=16 (local.get $b))))
          (local.set $z2 (v128.xor (local.get $z2) (v128.load offset=32 (local.get $b))))
          (local.set $z3 (v128.xor (local.get $z3) (v128.load offset=48 (local.get $b))))))
      (local.set $z0 (v128.xor (local.get $z0) (local.get $x0)))
      (local.set $z1 (v128.xor (local.get $z1) (local.get $x1)))
      (local.set $z2 (v128.xor (local.get $z2) (local.get $x2)))
      (local.set $z3 (v128.xor (local.get $z3) (local.get $x3)))
      (local.set $x0 (local.get $z0))
      (local.set $x1 (local.get $z1))
      (local.set $x2 (local.get $z2))
      (local.set $x3 (local.get $z3))
      ;; four double rounds; each step is  a ^= rotl(b + c, s)  on whole rows
      (local.set $round (i32.const 4))
      (loop $rounds
        ;; column round: x4 ^= R(x0+x12, 7), x8 ^= R(x4+x0, 9), x12 ^= R(x8+x4, 13),
        ;; x0 ^= R(x12+x8, 18), and the same on the other three columns, one per lane
        (local.set $t (i32x4.add (local.get $x0) (local.get $x3)))
        (local.set $x1 (v128.xor (local.get $x1)
          (v128.or (i32x4.shl (local.get $t) (i32.const 7))
                   (i32x4.shr_u (local.get $t) (i32.const 25)))))
        (local.set $t (i32x4.add (local.get $x1) (local.get $x0)))
        (local.set $x2 (v128.xor (local.get $x2)
          (v128.or (i32x4.shl (local.get $t) (i32.const 9))
                   (i32x4.shr_u (local.get $t) (i32.const 23)))))
        (local.set $t (i32x4.add (local.get $x2) (local.get $x1)))
        (local.set $x3 (v128.xor (local.get $x3)
          (v128.or (i32x4.shl (local.get $t) (i32.const 13))
                   (i32x4.shr_u (local.get $t) (i32.const 19)))))
        (local.set $t (i32x4.add (local.get $x3) (local.get $x2)))
        (local.set $x0 (v128.xor (local.get $x0)
          (v128.or (i32x4.shl (local.get $t) (i32.const 18))
                   (i32x4.shr_u (local.get $t) (i32.const 14)))))
        ;; rotate lanes for the rows: X1 = (x3, x4, x9, x14) [lanes 3 0 1 2],
        ;; X2 = (x2, x7, x8, x13) [2 3 0 1], X3 = (x1, x6, x11, x12) [1 2 3 0]
        (local.set $x1 (i8x16.shuffle 12 13 14 15 0 1 2 3 4 5 6 7 8 9 10 11
          (local.get $x1) (local.get $x1)))
        (local.set $x2 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
          (local.get $x2) (local.get $x2)))
        (local.set $x3 (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3
          (local.get $x3) (local.get $x3)))
        ;; row round: x1 ^= R(x0+x3, 7), x2 ^= R(x1+x0, 9), x3 ^= R(x2+x1, 13),
        ;; x0 ^= R(x3+x2, 18), and the same on the other three rows, one per lane
        (local.set $t (i32x4.add (local.get $x0) (local.get $x1)))
        (local.set $x3 (v128.xor (local.get $x3)
          (v128.or (i32x4.shl (local.get $t) (i32.const 7))
                   (i32x4.shr_u (local.get $t) (i32.const 25)))))
        (local.set $t (i32x4.add (local.get $x3) (local.get $x0)))
        (local.set $x2 (v128.xor (local.get $x2)
          (v128.or (i32x4.shl (local.get $t) (i32.const 9))
                   (i32x4.shr_u (local.get $t) (i32.const 23)))))
        (local.set $t (i32x4.add (local.get $x2) (local.get $x3)))
        (local.set $x1 (v128.xor (local.get $x1)
          (v128.or (i32x4.shl (local.get $t) (i32.const 13))
                   (i32x4.shr_u (local.get $t) (i32.const 19)))))
        (local.set $t (i32x4.add (local.get $x1) (local.get $x2)))
        (local.set $x0 (v128.xor (local.get $x0)
          (v128.or (i32x4.shl (local.get $t) (i32.const 18))
                   (i32x4.shr_u (local.get $t) (i32.const 14)))))
        ;; and back to the diagonal layout
        (local.set $x1 (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3
          (local.get $x1) (local.get $x1)))
        (local.set $x2 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
          (local.get $x2) (local.get $x2)))
        (local.set $x3 (i8x16.shuffle 12 13 14 15 0 1 2 3 4 5 6 7 8 9 10 11
          (local.get $x3) (local.get $x3)))
        (local.set $round (i32.sub (local.get $round) (i32.const 1)))
        (br_if $rounds (local.get $round)))
      ;; X = Salsa20/8 output = rounds(Z) + Z
      (local.set $x0 (i32x4.add (local.get $x0) (local.get $z0)))
      (local.set $x1 (i32x4.add (local.get $x1) (local.get $z1)))
      (local.set $x2 (i32x4.add (local.get $x2) (local.get $z2)))
      (local.set $x3 (i32x4.add (local.get $x3) (local.get $z3)))
      ;; Y[i] goes to dst + 64·(i/2) for even i, dst + 64·(r + i/2) for odd i ($i is 64·i)
      (local.set $out
        (i32.add (i32.add (local.get $dst) (i32.and (i32.shr_u (local.get $i) (i32.const 1))
                                                    (i32.const -64)))
          (select (i32.shl (local.get $r) (i32.const 6)) (i32.const 0)
            (i32.and (local.get $i) (i32.const 64)))))
      (v128.store offset=0 (local.get $out) (local.get $x0))
      (v128.store offset=16 (local.get $out) (local.get $x1))
      (v128.store offset=32 (local.get $out) (local.get $x2))
      (v128.store offset=48 (local.get $out) (local.get $x3))
      (local.set $i (i32.add (local.get $i) (i32.const 64)))
      (br_if $sub (i32.lt_u (local.get $i) (local.get $n)))))

  ;; Two independent BlockMixes interleaved: lane A as $blockmix(srcA, src2A, xor, dstA, r) and
  ;; lane B as $blockmix(srcB, src2B, xor, dstB, r). One Salsa20/8 is a chain of dependent
  ;; vector operations (add, two shifts, or, xor per step) that leaves most of the CPU's vector
  ;; units idle; a second, independent chain beside it costs almost nothing (measured: two
  ;; interleaved chains take the time of one), so smix2 mixes two lanes for the price of one.
  ;; $x*, $z*, $t are lane A's as in $blockmix, $xb*, $zb*, $tb lane B's; the round code is
  ;; $blockmix's with every statement followed by its lane-B twin.
  (func $blockmix2 (param $srcA i32) (param $src2A i32) (param $dstA i32)
    (param $srcB i32) (param $src2B i32) (param $dstB i32) (param $xor i32) (param $r i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $z0 v128) (local $z1 v128) (local $z2 v128) (local $z3 v128)
    (local $xb0 v128) (local $xb1 v128) (local $xb2 v128) (local $xb3 v128)
    (local $zb0 v128) (local $zb1 v128) (local $zb2 v128) (local $zb3 v128)
    (local $t v128) (local $tb v128)
    (local $i i32) (local $n i32) (local $a i32) (local $b i32) (local $out i32)
    (local $round i32)
    (local.set $n (i32.shl (local.get $r) (i32.const 7)))
    ;; X = B[2r-1] (^ B2[2r-1]), for each lane
    (local.set $a (i32.add (local.get $srcA) (i32.sub (local.get $n) (i32.const 64))))
    (local.set $b (i32.add (local.get $srcB) (i32.sub (local.get $n) (i32.const 64))))
    (local.set $x0 (v128.load offset=0 (local.get $a)))
    (local.set $x1 (v128.load offset=16 (local.get $a)))
    (local.set $x2 (v128.load offset=32 (local.get $a)))
    (local.set $x3 (v128.load offset=48 (local.get $a)))
    (local.set $xb0 (v128.load offset=0 (local.get $b)))
    (local.set $xb1 (v128.load offset=16 (local.get $b)))
    (local.set $xb2 (v128.load offset=32 (local.get $b)))
    (local.set $xb3 (v128.load offset=48 (local.get $b)))
    (if (local.get $xor)
      (then
        (local.set $a (i32.add (local.get $src2A) (i32.sub (local.get $n) (i32.const 64))))
        (local.set $b (i32.add (local.get $src2B) (i32.sub (local.get $n) (i32.const 64))))
        (local.set $x0 (v128.xor (local.get $x0) (v128.load offset=0 (local.get $a))))
        (local.set $x1 (v128.xor (local.get $x1) (v128.load offset=16 (local.get $a))))
        (local.set $x2 (v128.xor (local.get $x2) (v128.load offset=32 (local.get $a))))
        (local.set $x3 (v128.xor (local.get $x3) (v128.load offset=48 (local.get $a))))
        (local.set $xb0 (v128.xor (local.get $xb0) (v128.load offset=0 (local.get $b))))
        (local.set $xb1 (v128.xor (local.get $xb1) (v128.load offset=16 (local.get $b))))
        (local.set $xb2 (v128.xor (local.get $xb2) (v128.load offset=32 (local.get $b))))
        (local.set $xb3 (v128.xor (local.get $xb3) (v128.load offset=48 (local.get $b))))))
    (local.set $i (i32.const 0))
    (loop $sub
      ;; Z = X ^ (B[i] ^ B2[i]) for each lane
      (local.set $a (i32.add (local.get $srcA) (local.get $i)))
      (local.set $b (i32.add (local.get $srcB) (local.get $i)))
      (local.set $z0 (v128.load offset=0 (local.get $a)))
      (local.set $z1 (v128.load offset=16 (local.get $a)))
      (local.set $z2 (v128.load offset=32 (local.get $a)))
      (local.set $z3 (v128.load offset=48 (local.get $a)))
      (local.set $zb0 (v128.load offset=0 (local.get $b)))
      (local.set $zb1 (v128.load offset=16 (local.get $b)))
      (local.set $zb2 (v128.load offset=32 (local.get $b)))
      (local.set $zb3 (v128.load offset=48 (local.get $b)))
      (if (local.get $xor)
        (then
          (local.set $a (i32.add (local.get $src2A) (local.get $i)))
          (local.set $b (i32.add (local.get $src2B) (local.get $i)))
          (local.set $z0 (v128.xor (local.get $z0) (v128.load offset=0 (local.get $a))))
          (local.set $z1 (v128.xor (local.get $z1) (v128.load offset=16 (local.get $a))))
          (local.set $z2 (v128.xor (local.get $z2) (v128.load offset=32 (local.get $a))))
          (local.set $z3 (v128.xor (local.get $z3) (v128.load offset=48 (local.get $a))))
          (local.set $zb0 (v128.xor (local.get $zb0) (v128.load offset=0 (local.get $b))))
          (local.set $zb1 (v128.xor (local.get $zb1) (v128.load offset=16 (local.get $b))))
          (local.set $zb2 (v128.xor (local.get $zb2) (v128.load offset=32 (local.get $b))))
          (local.set $zb3 (v128.xor (local.get $zb3) (v128.load offset=48 (local.get $b))))))
      (local.set $x0 (local.tee $z0 (v128.xor (local.get $z0) (local.get $x0))))
      (local.set $x1 (local.tee $z1 (v128.xor (local.get $z1) (local.get $x1))))
      (local.set $x2 (local.tee $z2 (v128.xor (local.get $z2) (local.get $x2))))
      (local.set $x3 (local.tee $z3 (v128.xor (local.get $z3) (local.get $x3))))
      (local.set $xb0 (local.tee $zb0 (v128.xor (local.get $zb0) (local.get $xb0))))
      (local.set $xb1 (local.tee $zb1 (v128.xor (local.get $zb1) (local.get $xb1))))
      (local.set $xb2 (local.tee $zb2 (v128.xor (local.get $zb2) (local.get $xb2))))
      (local.set $xb3 (local.tee $zb3 (v128.xor (local.get $zb3) (local.get $xb3))))
      ;; four double rounds on both lanes, each step of lane A followed by the same on lane B
      (local.set $round (i32.const 4))
      (loop $rounds
        ;; column round: x4 ^= R(x0+x12, 7), x8 ^= R(x4+x0, 9), x12 ^= R(x8+x4, 13),
        ;; x0 ^= R(x12+x8, 18), and the same on the other three columns, one per lane
        (local.set $t (i32x4.add (local.get $x0) (local.get $x3)))
        (local.set $tb (i32x4.add (local.get $xb0) (local.get $xb3)))
        (local.set $x1 (v128.xor (local.get $x1)
          (v128.or (i32x4.shl (local.get $t) (i32.const 7))
                   (i32x4.shr_u (local.get $t) (i32.const 25)))))
        (local.set $xb1 (v128.xor (local.get $xb1)
          (v128.or (i32x4.shl (local.get $tb) (i32.const 7))
                   (i32x4.shr_u (local.get $tb) (i32.const 25)))))
        (local.set $t (i32x4.add (local.get $x1) (local.get $x0)))
        (local.set $tb (i32x4.add (local.get $xb1) (local.get $xb0)))
        (local.set $x2 (v128.xor (local.get $x2)
          (v128.or (i32x4.shl (local.get $t) (i32.const 9))
                   (i32x4.shr_u (local.get $t) (i32.const 23)))))
        (local.set $xb2 (v128.xor (local.get $xb2)
          (v128.or (i32x4.shl (local.get $tb) (i32.const 9))
                   (i32x4.shr_u (local.get $tb) (i32.const 23)))))
        (local.set $t (i32x4.add (local.get $x2) (local.get $x1)))
        (local.set $tb (i32x4.add (local.get $xb2) (local.get $xb1)))
        (local.set $x3 (v128.xor (local.get $x3)
          (v128.or (i32x4.shl (local.get $t) (i32.const 13))
                   (i32x4.shr_u (local.get $t) (i32.const 19)))))
        (local.set $xb3 (v128.xor (local.get $xb3)
          (v128.or (i32x4.shl (local.get $tb) (i32.const 13))
                   (i32x4.shr_u (local.get $tb) (i32.const 19)))))
        (local.set $t (i32x4.add (local.get $x3) (local.get $x2)))
        (local.set $tb (i32x4.add (local.get $xb3) (local.get $xb2)))
        (local.set $x0 (v128.xor (local.get $x0)
          (v128.or (i32x4.shl (local.get $t) (i32.const 18))
                   (i32x4.shr_u (local.get $t) (i32.const 14)))))
        (local.set $xb0 (v128.xor (local.get $xb0)
          (v128.or (i32x4.shl (local.get $tb) (i32.const 18))
                   (i32x4.shr_u (local.get $tb) (i32.const 14)))))
        ;; rotate lanes for the rows: X1 = (x3, x4, x9, x14) [lanes 3 0 1 2],
        ;; X2 = (x2, x7, x8, x13) [2 3 0 1], X3 = (x1, x6, x11, x12) [1 2 3 0]
        (local.set $x1 (i8x16.shuffle 12 13 14 15 0 1 2 3 4 5 6 7 8 9 10 11
          (local.get $x1) (local.get $x1)))
        (local.set $xb1 (i8x16.shuffle 12 13 14 15 0 1 2 3 4 5 6 7 8 9 10 11
          (local.get $xb1) (local.get $xb1)))
        (local.set $x2 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
          (local.get $x2) (local.get $x2)))
        (local.set $xb2 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
          (local.get $xb2) (local.get $xb2)))
        (local.set $x3 (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3
          (local.get $x3) (local.get $x3)))
        (local.set $xb3 (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3
          (local.get $xb3) (local.get $xb3)))
        ;; row round: x1 ^= R(x0+x3, 7), x2 ^= R(x1+x0, 9), x3 ^= R(x2+x1, 13),
        ;; x0 ^= R(x3+x2, 18), and the same on the other three rows, one per lane
        (local.set $t (i32x4.add (local.get $x0) (local.get $x1)))
        (local.set $tb (i32x4.add (local.get $xb0) (local.get $xb1)))
        (local.set $x3 (v128.xor (local.get $x3)
          (v128.or (i32x4.shl (local.get $t) (i32.const 7))
                   (i32x4.shr_u (local.get $t) (i32.const 25)))))
        (local.set $xb3 (v128.xor (local.get $xb3)
          (v128.or (i32x4.shl (local.get $tb) (i32.const 7))
                   (i32x4.shr_u (local.get $tb) (i32.const 25)))))
        (local.set $t (i32x4.add (local.get $x3) (local.get $x0)))
        (local.set $tb (i32x4.add (local.get $xb3) (local.get $xb0)))
        (local.set $x2 (v128.xor (local.get $x2)
          (v128.or (i32x4.shl (local.get $t) (i32.const 9))
                   (i32x4.shr_u (local.get $t) (i32.const 23)))))
        (local.set $xb2 (v128.xor (local.get $xb2)
          (v128.or (i32x4.shl (local.get $tb) (i32.const 9))
                   (i32x4.shr_u (local.get $tb) (i32.const 23)))))
        (local.set $t (i32x4.add (local.get $x2) (local.get $x3)))
        (local.set $tb (i32x4.add (local.get $xb2) (local.get $xb3)))
        (local.set $x1 (v128.xor (local.get $x1)
          (v128.or (i32x4.shl (local.get $t) (i32.const 13))
                   (i32x4.shr_u (local.get $t) (i32.const 19)))))
        (local.set $xb1 (v128.xor (local.get $xb1)
          (v128.or (i32x4.shl (local.get $tb) (i32.const 13))
                   (i32x4.shr_u (local.get $tb) (i32.const 19)))))
        (local.set $t (i32x4.add (local.get $x1) (local.get $x2)))
        (local.set $tb (i32x4.add (local.get $xb1) (local.get $xb2)))
        (local.set $x0 (v128.xor (local.get $x0)
          (v128.or (i32x4.shl (local.get $t) (i32.const 18))
                   (i32x4.shr_u (local.get $t) (i32.const 14)))))
        (local.set $xb0 (v128.xor (local.get $xb0)
          (v128.or (i32x4.shl (local.get $tb) (i32.const 18))
                   (i32x4.shr_u (local.get $tb) (i32.const 14)))))
        ;; and back to the diagonal layout
        (local.set $x1 (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3
          (local.get $x1) (local.get $x1)))
        (local.set $xb1 (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3
          (local.get $xb1) (local.get $xb1)))
        (local.set $x2 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
          (local.get $x2) (local.get $x2)))
        (local.set $xb2 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
          (local.get $xb2) (local.get $xb2)))
        (local.set $x3 (i8x16.shuffle 12 13 14 15 0 1 2 3 4 5 6 7 8 9 10 11
          (local.get $x3) (local.get $x3)))
        (local.set $xb3 (i8x16.shuffle 12 13 14 15 0 1 2 3 4 5 6 7 8 9 10 11
          (local.get $xb3) (local.get $xb3)))
        (local.set $round (i32.sub (local.get $round) (i32.const 1)))
        (br_if $rounds (local.get $round)))
      (local.set $x0 (i32x4.add (local.get $x0) (local.get $z0)))
      (local.set $x1 (i32x4.add (local.get $x1) (local.get $z1)))
      (local.set $x2 (i32x4.add (local.get $x2) (local.get $z2)))
      (local.set $x3 (i32x4.add (local.get $x3) (local.get $z3)))
      (local.set $xb0 (i32x4.add (local.get $xb0) (local.get $zb0)))
      (local.set $xb1 (i32x4.add (local.get $xb1) (local.get $zb1)))
      (local.set $xb2 (i32x4.add (local.get $xb2) (local.get $zb2)))
      (local.set $xb3 (i32x4.add (local.get $xb3) (local.get $zb3)))
      ;; Y[i] at the same offset in both lanes' outputs (see $blockmix)
      (local.set $out
        (i32.add (i32.and (i32.shr_u (local.get $i) (i32.const 1)) (i32.const -64))
          (select (i32.shl (local.get $r) (i32.const 6)) (i32.const 0)
            (i32.and (local.get $i) (i32.const 64)))))
      (local.set $a (i32.add (local.get $dstA) (local.get $out)))
      (local.set $b (i32.add (local.get $dstB) (local.get $out)))
      (v128.store offset=0 (local.get $a) (local.get $x0))
      (v128.store offset=16 (local.get $a) (local.get $x1))
      (v128.store offset=32 (local.get $a) (local.get $x2))
      (v128.store offset=48 (local.get $a) (local.get $x3))
      (v128.store offset=0 (local.get $b) (local.get $xb0))
      (v128.store offset=16 (local.get $b) (local.get $xb1))
      (v128.store offset=32 (local.get $b) (local.get $xb2))
      (v128.store offset=48 (local.get $b) (local.get $xb3))
      (local.set $i (i32.add (local.get $i) (i32.const 64)))
      (br_if $sub (i32.lt_u (local.get $i) (local.get $n)))))

  ;; ROMix on the lane B at address 0 (128·r bytes), in place: N a power of two, k = 2^klog
  ;; with k <= N, memory at least (5 + N/k)·128·r bytes.
  (func (export "smix") (param $r i32) (param $N i32) (param $klog i32)
    (local $blk i32) (local $x i32) (local $y i32) (local $t i32) (local $u i32) (local $v i32)
    (local $kmask i32) (local $i i32) (local $j i32) (local $d i32) (local $src i32)
    (local $tmp i32) (local $last i32)
    (local.set $blk (i32.shl (local.get $r) (i32.const 7)))
    (local.set $y (i32.mul (local.get $blk) (i32.const 2)))
    (local.set $t (i32.mul (local.get $blk) (i32.const 3)))
    (local.set $u (i32.mul (local.get $blk) (i32.const 4)))
    (local.set $v (i32.mul (local.get $blk) (i32.const 5)))
    (local.set $kmask (i32.sub (i32.shl (i32.const 1) (local.get $klog)) (i32.const 1)))
    ;; Integerify reads the first word of the last sub-block (word 0 is not permuted); j < N
    ;; <= 2^21, so its low 32 bits are enough
    (local.set $last (i32.sub (local.get $blk) (i32.const 64)))
    ;; first loop: state 0 is the lane permuted, straight into V[0]; state i = BlockMix(state
    ;; i-1) goes to V[i/k] if i mod k == 0 (and i < N), else to whichever of X and Y does not
    ;; hold state i-1, so the stored states are written once and never copied
    (call $permute (i32.const 0) (local.get $v) (i32.shl (local.get $r) (i32.const 1))
      (i32.const 0))
    (local.set $src (local.get $v))
    (local.set $i (i32.const 1))
    (loop $fill
      (if (i32.and (i32.eqz (i32.and (local.get $i) (local.get $kmask)))
                   (i32.lt_u (local.get $i) (local.get $N)))
        (then
          (local.set $x
            (i32.add (local.get $v)
              (i32.mul (i32.shr_u (local.get $i) (local.get $klog)) (local.get $blk)))))
        (else
          (local.set $x
            (select (local.get $y) (local.get $blk) (i32.eq (local.get $src) (local.get $blk))))))
      (call $blockmix (local.get $src) (i32.const 0) (i32.const 0) (local.get $x) (local.get $r))
      (local.set $src (local.get $x))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.le_u (local.get $i) (local.get $N))))
    ;; X is state N, in the X or Y area; Y is the other
    (local.set $y
      (select (i32.mul (local.get $blk) (i32.const 2)) (local.get $blk)
        (i32.eq (local.get $x) (local.get $blk))))
    ;; second loop: j = Integerify(X) mod N; X = BlockMix(X ^ V[j]), V[j] being the stored
    ;; entry j/k (rounded down) carried j mod k steps further
    (local.set $i (i32.const 0))
    (loop $mix
      (local.set $j
        (i32.and (i32.load (i32.add (local.get $x) (local.get $last)))
          (i32.sub (local.get $N) (i32.const 1))))
      (local.set $src
        (i32.add (local.get $v)
          (i32.mul (i32.shr_u (local.get $j) (local.get $klog)) (local.get $blk))))
      (local.set $d (i32.and (local.get $j) (local.get $kmask)))
      (if (local.get $d)
        (then
          (call $blockmix (local.get $src) (i32.const 0) (i32.const 0) (local.get $t)
            (local.get $r))
          (local.set $d (i32.sub (local.get $d) (i32.const 1)))
          (block $recomputed
            (loop $more
              (br_if $recomputed (i32.eqz (local.get $d)))
              (call $blockmix (local.get $t) (i32.const 0) (i32.const 0) (local.get $u)
                (local.get $r))
              (local.set $tmp (local.get $t))
              (local.set $t (local.get $u))
              (local.set $u (local.get $tmp))
              (local.set $d (i32.sub (local.get $d) (i32.const 1)))
              (br $more)))
          (local.set $src (local.get $t))))
      (call $blockmix (local.get $x) (local.get $src) (i32.const 1) (local.get $y) (local.get $r))
      (local.set $tmp (local.get $x))
      (local.set $x (local.get $y))
      (local.set $y (local.get $tmp))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $mix (i32.lt_u (local.get $i) (local.get $N))))
    (call $permute (local.get $x) (i32.const 0) (i32.shl (local.get $r) (i32.const 1))
      (i32.const 1)))

  ;; ROMix on two lanes at once, A at address 0 and B at 128·r, in place: smix's two loops with
  ;; $blockmix2 mixing both lanes (and recomputing both V[j]s while both need it). Memory at
  ;; least (10 + 2·N/k)·128·r bytes: 2·blk X, Y, T, U of lane A; 6·blk the same of lane B;
  ;; 10·blk lane A's V (N/k entries), then lane B's.
  (func (export "smix2") (param $r i32) (param $N i32) (param $klog i32)
    (local $blk i32) (local $kmask i32) (local $last i32) (local $i i32) (local $tmp i32) (local $ta i32) (local $tb i32)
    (local $va i32) (local $xa i32) (local $ya i32) (local $ca i32) (local $da i32) (local $ja i32)
    (local $vb i32) (local $xb i32) (local $yb i32) (local $cb i32) (local $db i32) (local $jb i32)
    (local.set $blk (i32.shl (local.get $r) (i32.const 7)))
    (local.set $kmask (i32.sub (i32.shl (i32.const 1) (local.get $klog)) (i32.const 1)))
    (local.set $last (i32.sub (local.get $blk) (i32.const 64)))
    (local.set $va (i32.mul (local.get $blk) (i32.const 10)))
    (local.set $vb (i32.add (local.get $va)
      (i32.mul (i32.shr_u (local.get $N) (local.get $klog)) (local.get $blk))))
    ;; first loop, both lanes in step ($ca, $cb: where state i-1 is; see smix)
    (call $permute (i32.const 0) (local.get $va) (i32.shl (local.get $r) (i32.const 1))
      (i32.const 0))
    (call $permute (local.get $blk) (local.get $vb) (i32.shl (local.get $r) (i32.const 1))
      (i32.const 0))
    (local.set $ca (local.get $va))
    (local.set $cb (local.get $vb))
    (local.set $i (i32.const 1))
    (loop $fill
      (if (i32.and (i32.eqz (i32.and (local.get $i) (local.get $kmask)))
                   (i32.lt_u (local.get $i) (local.get $N)))
        (then
          (local.set $tmp (i32.mul (i32.shr_u (local.get $i) (local.get $klog)) (local.get $blk)))
          (local.set $xa (i32.add (local.get $va) (local.get $tmp)))
          (local.set $xb (i32.add (local.get $vb) (local.get $tmp))))
        (else
          ;; X or Y of each lane, whichever does not hold state i-1
          (local.set $xa (select (i32.mul (local.get $blk) (i32.const 3))
            (i32.mul (local.get $blk) (i32.const 2))
            (i32.eq (local.get $ca) (i32.mul (local.get $blk) (i32.const 2)))))
          (local.set $xb (select (i32.mul (local.get $blk) (i32.const 7))
            (i32.mul (local.get $blk) (i32.const 6))
            (i32.eq (local.get $cb) (i32.mul (local.get $blk) (i32.const 6)))))))
      (call $blockmix2 (local.get $ca) (i32.const 0) (local.get $xa)
        (local.get $cb) (i32.const 0) (local.get $xb) (i32.const 0) (local.get $r))
      (local.set $ca (local.get $xa))
      (local.set $cb (local.get $xb))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.le_u (local.get $i) (local.get $N))))
    (local.set $ya (select (i32.mul (local.get $blk) (i32.const 3))
      (i32.mul (local.get $blk) (i32.const 2))
      (i32.eq (local.get $xa) (i32.mul (local.get $blk) (i32.const 2)))))
    (local.set $yb (select (i32.mul (local.get $blk) (i32.const 7))
      (i32.mul (local.get $blk) (i32.const 6))
      (i32.eq (local.get $xb) (i32.mul (local.get $blk) (i32.const 6)))))
    ;; second loop, both lanes in step; $ca, $cb walk from the stored entries to V[j] through
    ;; T and U (4·blk, 5·blk for A; 8·blk, 9·blk for B)
    (local.set $i (i32.const 0))
    (loop $mix
      (local.set $ja (i32.and (i32.load (i32.add (local.get $xa) (local.get $last)))
        (i32.sub (local.get $N) (i32.const 1))))
      (local.set $jb (i32.and (i32.load (i32.add (local.get $xb) (local.get $last)))
        (i32.sub (local.get $N) (i32.const 1))))
      (local.set $ca (i32.add (local.get $va)
        (i32.mul (i32.shr_u (local.get $ja) (local.get $klog)) (local.get $blk))))
      (local.set $cb (i32.add (local.get $vb)
        (i32.mul (i32.shr_u (local.get $jb) (local.get $klog)) (local.get $blk))))
      (local.set $da (i32.and (local.get $ja) (local.get $kmask)))
      (local.set $db (i32.and (local.get $jb) (local.get $kmask)))
      ;; steps both lanes need, together
      (block $single
        (loop $both
          (br_if $single (i32.or (i32.eqz (local.get $da)) (i32.eqz (local.get $db))))
          ;; T or U of each lane, whichever does not hold the entry so far
          (local.set $ta (select (i32.mul (local.get $blk) (i32.const 5))
            (i32.mul (local.get $blk) (i32.const 4))
            (i32.eq (local.get $ca) (i32.mul (local.get $blk) (i32.const 4)))))
          (local.set $tb (select (i32.mul (local.get $blk) (i32.const 9))
            (i32.mul (local.get $blk) (i32.const 8))
            (i32.eq (local.get $cb) (i32.mul (local.get $blk) (i32.const 8)))))
          (call $blockmix2 (local.get $ca) (i32.const 0) (local.get $ta)
            (local.get $cb) (i32.const 0) (local.get $tb) (i32.const 0) (local.get $r))
          (local.set $ca (local.get $ta))
          (local.set $cb (local.get $tb))
          (local.set $da (i32.sub (local.get $da) (i32.const 1)))
          (local.set $db (i32.sub (local.get $db) (i32.const 1)))
          (br $both)))
      ;; the steps left to one lane, alone
      (block $doneA
        (loop $moreA
          (br_if $doneA (i32.eqz (local.get $da)))
          (local.set $tmp (select (i32.mul (local.get $blk) (i32.const 5))
            (i32.mul (local.get $blk) (i32.const 4))
            (i32.eq (local.get $ca) (i32.mul (local.get $blk) (i32.const 4)))))
          (call $blockmix (local.get $ca) (i32.const 0) (i32.const 0) (local.get $tmp)
            (local.get $r))
          (local.set $ca (local.get $tmp))
          (local.set $da (i32.sub (local.get $da) (i32.const 1)))
          (br $moreA)))
      (block $doneB
        (loop $moreB
          (br_if $doneB (i32.eqz (local.get $db)))
          (local.set $tmp (select (i32.mul (local.get $blk) (i32.const 9))
            (i32.mul (local.get $blk) (i32.const 8))
            (i32.eq (local.get $cb) (i32.mul (local.get $blk) (i32.const 8)))))
          (call $blockmix (local.get $cb) (i32.const 0) (i32.const 0) (local.get $tmp)
            (local.get $r))
          (local.set $cb (local.get $tmp))
          (local.set $db (i32.sub (local.get $db) (i32.const 1)))
          (br $moreB)))
      ;; X = BlockMix(X ^ V[j]) on both lanes; X and Y swap
      (call $blockmix2 (local.get $xa) (local.get $ca) (local.get $ya)
        (local.get $xb) (local.get $cb) (local.get $yb) (i32.const 1) (local.get $r))
      (local.set $tmp (local.get $xa))
      (local.set $xa (local.get $ya))
      (local.set $ya (local.get $tmp))
      (local.set $tmp (local.get $xb))
      (local.set $xb (local.get $yb))
      (local.set $yb (local.get $tmp))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $mix (i32.lt_u (local.get $i) (local.get $N))))
    (call $permute (local.get $xa) (i32.const 0) (i32.shl (local.get $r) (i32.const 1))
      (i32.const 1))
    (call $permute (local.get $xb) (local.get $blk) (i32.shl (local.get $r) (i32.const 1))
      (i32.const 1))))
