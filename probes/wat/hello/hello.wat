;; hello — a vigil probe written by hand in the WebAssembly text format.
;;
;; It makes no HTTP request (wasi:http from raw WAT is a lot of canonical-ABI
;; bookkeeping; see README.md); it shows the contract at its barest instead:
;; it reads `url` from its config, opens the step `hello`, logs one line, records the
;; metric `url_bytes`, and fails with a clear message when `url` is not set.
;;
;; `cargo xtask probes --lang wat` embeds the `vigil:probe/probe` world from wit/ into
;; this module and wraps it into a component (target/probes/hello-wat.wasm).
;;
;; Canonical ABI, as the imports and the export below use it:
;; - a string is two i32s (pointer, length in bytes) into this module's memory;
;; - `log(level, msg)`: level is the enum's index (info = 2);
;; - `config(key) -> option<string>` returns through a pointer the caller passes last:
;;   byte 0 = 1 when set, then the string's pointer at +4 and length at +8, in memory the
;;   host allocated with our `cabi_realloc`;
;; - `run() -> result<_, string>` returns a pointer to the same shape: byte 0 = 0 for
;;   ok, 1 for err with the message's pointer at +4 and length at +8.
(module
  (import "vigil:probe/host@0.1.0" "log" (func $log (param i32 i32 i32)))
  (import "vigil:probe/host@0.1.0" "step-start" (func $step_start (param i32 i32)))
  (import "vigil:probe/host@0.1.0" "step-end" (func $step_end (param i32 i32 i32)))
  (import "vigil:probe/host@0.1.0" "metric" (func $metric (param i32 i32 f64 i32 i32)))
  (import "vigil:probe/host@0.1.0" "config" (func $config (param i32 i32 i32)))

  (memory (export "memory") 1)

  ;; Constant strings (offset, length in the comment).
  (data (i32.const 16) "url")                                  ;; 16, 3
  (data (i32.const 32) "hello")                                ;; 32, 5
  (data (i32.const 48) "url_bytes")                            ;; 48, 9
  (data (i32.const 64) "hello from WAT: url is ")              ;; 64, 23
  (data (i32.const 96) "config key `url` is not set")          ;; 96, 27
  (data (i32.const 128) "hello: config key `url` is not set")  ;; 128, 34

  ;; 256: config's return area (12 bytes); 272: run's return area (12 bytes).
  ;; The heap for cabi_realloc starts at 1024 and only grows: an instance runs once.
  (global $heap (mut i32) (i32.const 1024))

  ;; The allocator the host calls to hand us strings (a bump allocator).
  (func $cabi_realloc (export "cabi_realloc")
        (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
        (result i32)
    (local $ptr i32)
    (local $end i32)
    ;; Round the heap up to `align` (a power of two).
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.xor (i32.sub (local.get $align) (i32.const 1)) (i32.const -1))))
    (local.set $end (i32.add (local.get $ptr) (local.get $new_size)))
    ;; Grow the memory (64 KiB pages) when the allocation does not fit.
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow
                (i32.sub
                  (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
                  (memory.size)))
              (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (if (local.get $old)
      (then (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))))
    (local.get $ptr))

  (func (export "run") (result i32)
    (local $url i32)
    (local $len i32)
    (local $line i32)
    (call $step_start (i32.const 32) (i32.const 5))

    ;; config("url") -> option<string> at 256
    (call $config (i32.const 16) (i32.const 3) (i32.const 256))
    (if (i32.eqz (i32.load8_u (i32.const 256)))
      (then
        (call $step_end (i32.const 0) (i32.const 96) (i32.const 27))
        ;; err("hello: config key `url` is not set")
        (i32.store8 (i32.const 272) (i32.const 1))
        (i32.store (i32.const 276) (i32.const 128))
        (i32.store (i32.const 280) (i32.const 34))
        (return (i32.const 272))))
    (local.set $url (i32.load (i32.const 260)))
    (local.set $len (i32.load (i32.const 264)))

    ;; log(info, "hello from WAT: url is " + url)
    (local.set $line
      (call $cabi_realloc (i32.const 0) (i32.const 0) (i32.const 1)
                          (i32.add (i32.const 23) (local.get $len))))
    (memory.copy (local.get $line) (i32.const 64) (i32.const 23))
    (memory.copy (i32.add (local.get $line) (i32.const 23)) (local.get $url) (local.get $len))
    (call $log (i32.const 2) (local.get $line) (i32.add (i32.const 23) (local.get $len)))

    ;; metric("url_bytes", len, [])
    (call $metric (i32.const 48) (i32.const 9)
                  (f64.convert_i32_u (local.get $len))
                  (i32.const 0) (i32.const 0))

    (call $step_end (i32.const 1) (i32.const 0) (i32.const 0))
    ;; ok
    (i32.store8 (i32.const 272) (i32.const 0))
    (i32.const 272))
)
