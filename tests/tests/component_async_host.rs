//! The host's side of component-model async, through the real API on real `.so`s: calls that
//! do not block (`ComponentInstance::call_async` as a `Future`, `poll_ready`, `wait`), streams
//! the host reads from an export's result and writes into an export's parameter
//! (`HostCx::stream_to_host` / `stream_from_host`), fed from other OS threads.
//!
//! The guests are `tests/components/async.wat` and the wit-bindgen Rust guest of
//! `tests/async-guests/rust` (`numbers` returns a stream a spawned task fills; `sum-bytes` sums
//! a stream its caller writes).

use kiln_cli::tempdir::TempDir;
use kiln_runtime::component::{InterfaceType, Val};
use kiln_runtime::{Component, ComponentInstance, ComponentLinker, Engine, Error};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

struct Loaded {
    _dir: TempDir,
    engine: Engine,
    component: Component,
}

fn load(wasm: &[u8], name: &str) -> Loaded {
    let dir = TempDir::new("kiln-async-host").expect("temp dir");
    let so = dir.path().join(format!("{name}.so"));
    kiln_compiler::compile_to_file(wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .expect("compile");
    let engine = Engine::default();
    let component = Component::load(&engine, &so).expect("load");
    Loaded {
        _dir: dir,
        engine,
        component,
    }
}

fn instance(l: &Loaded) -> ComponentInstance {
    let mut linker = ComponentLinker::new(&l.engine);
    kiln_runtime::wasi::add_to_linker(&mut linker, kiln_runtime::wasi::WasiConfig::new());
    linker.instantiate(&l.component).expect("instantiate")
}

/// The Rust async guest, or `None` (the reason printed) where the wasip2 target is missing.
fn rust_guest() -> Option<Loaded> {
    use kiln_tests::guest_build::{build_wasip2_guest, cache_dir, wasip2_target_missing};
    if let Some(why) = wasip2_target_missing() {
        eprintln!("skipping the Rust async guest: {why}");
        return None;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("async-guests/rust");
    let wasm = build_wasip2_guest(&src, &cache_dir().join("kiln-async-guests"), "async_guest");
    Some(load(&std::fs::read(wasm).expect("read the guest"), "rust"))
}

fn async_wat() -> Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("components/async.wat");
    load(&wat::parse_file(path).expect("async.wat"), "async")
}

/// Polls `futures` to completion on this thread, parking between polls until a waker fires
/// (a missed wake-up fails the test instead of hanging it).
fn block_on_all<F: Future + Unpin>(mut futures: Vec<F>) -> (Vec<F::Output>, usize) {
    struct Unpark(std::thread::Thread, AtomicBool);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.1.store(true, Ordering::Release);
            self.0.unpark();
        }
    }
    let flag = Arc::new(Unpark(std::thread::current(), AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut pendings = 0;
    loop {
        for (f, o) in futures.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match std::pin::Pin::new(f).poll(&mut cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pendings += 1,
                }
            }
        }
        if out.iter().all(Option::is_some) {
            return (out.into_iter().map(Option::unwrap).collect(), pendings);
        }
        let start = std::time::Instant::now();
        while !flag.1.swap(false, Ordering::AcqRel) {
            std::thread::park_timeout(Duration::from_millis(100));
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no wake-up for 20 s: a pending call was never woken"
            );
        }
    }
}

/// A host-written `stream<u8>` for `inst`, and a thread writing `n` bytes (`i % 253`) into it
/// in chunks of `chunk`, pausing `pause` between chunks, then ending it.
fn feed(
    inst: &ComponentInstance,
    n: usize,
    chunk: usize,
    pause: Duration,
) -> (Val, std::thread::JoinHandle<()>) {
    let (v, w) = inst.with_host_cx(|cx| {
        cx.stream_from_host(&InterfaceType::Stream(Some(Box::new(InterfaceType::U8))))
            .expect("stream_from_host")
    });
    let t = std::thread::spawn(move || {
        let mut sent = 0;
        while sent < n {
            let k = chunk.min(n - sent);
            w.wait_for_room(256 << 10);
            assert!(w.write((sent..sent + k).map(|i| (i % 253) as u8).collect()));
            sent += k;
            std::thread::sleep(pause);
        }
    });
    (v, t)
}

fn fed_sum(n: usize) -> u64 {
    (0..n).map(|i| (i % 253) as u64).sum()
}

#[test]
fn async_calls_are_polled_or_waited_for() {
    let Some(g) = rust_guest() else { return };
    let i = instance(&g);
    let f = i.get_func("double").expect("double");
    let mut call = i.call_async(&f, &[Val::U32(21)]).expect("start");
    let r = loop {
        if let Some(r) = call.poll_ready().expect("poll") {
            break r;
        }
    };
    assert_eq!(r, Some(Val::U32(42)));
    let call = i.call_async(&f, &[Val::U32(5)]).expect("start");
    assert_eq!(call.wait().expect("wait"), Some(Val::U32(10)));
    // The blocking API still works between them.
    assert_eq!(
        i.call("double", &[Val::U32(1)]).expect("call"),
        Some(Val::U32(2))
    );
}

#[test]
fn the_host_reads_a_stream_an_export_returns() {
    let Some(g) = rust_guest() else { return };
    let i = instance(&g);
    for n in [0u32, 1, 70_000] {
        let Some(v @ Val::Stream(_)) = i.call("numbers", &[Val::U32(n)]).expect("numbers") else {
            panic!("numbers returns a stream");
        };
        let got = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(AtomicBool::new(false));
        let (g2, e2) = (got.clone(), ended.clone());
        i.with_host_cx(|cx| {
            cx.stream_to_host(
                &v,
                move |b| {
                    g2.lock().unwrap().extend_from_slice(b);
                    true
                },
                move || e2.store(true, Ordering::Release),
            )
        })
        .expect("stream_to_host");
        i.run_until(move || ended.load(Ordering::Acquire))
            .expect("the writer ends the stream");
        let want: Vec<u8> = (0..n).map(|i| i as u8).collect();
        assert_eq!(*got.lock().unwrap(), want, "numbers({n})");
    }
    // A stream the host is handed twice is refused, not read twice.
    let v = i.call("numbers", &[Val::U32(3)]).expect("numbers").unwrap();
    i.with_host_cx(|cx| cx.drop_async_value(&v)).expect("drop");
    let again = i.with_host_cx(|cx| cx.drop_async_value(&v));
    assert!(again.is_err(), "a claimed stream cannot be claimed again");
}

#[test]
fn the_host_writes_a_stream_an_export_reads() {
    let Some(g) = rust_guest() else { return };
    let i = instance(&g);
    for (n, chunk) in [(0usize, 1usize), (1, 1), (1 << 20, 10_000)] {
        let (v, t) = feed(&i, n, chunk, Duration::ZERO);
        let r = i.call("sum-bytes", &[v]).expect("sum-bytes");
        t.join().expect("writer");
        assert_eq!(r, Some(Val::U64(fed_sum(n))), "{n} bytes");
    }
}

#[test]
fn concurrent_async_calls_make_progress_as_futures() {
    let Some(g) = rust_guest() else { return };
    let i = instance(&g);
    let f = i.get_func("sum-bytes").expect("sum-bytes");
    let (a, ta) = feed(&i, 300_000, 7_000, Duration::from_millis(2));
    let (b, tb) = feed(&i, 100_000, 3_000, Duration::from_millis(3));
    let calls = vec![
        i.call_async(&f, &[a]).expect("start a"),
        i.call_async(&f, &[b]).expect("start b"),
    ];
    let (results, pendings) = block_on_all(calls);
    ta.join().expect("writer a");
    tb.join().expect("writer b");
    assert_eq!(
        results[0].as_ref().expect("a"),
        &Some(Val::U64(fed_sum(300_000)))
    );
    assert_eq!(
        results[1].as_ref().expect("b"),
        &Some(Val::U64(fed_sum(100_000)))
    );
    assert!(
        pendings > 2,
        "the calls waited for the host ({pendings} pending polls)"
    );
}

#[test]
fn deadlocked_and_abandoned_async_calls_are_errors_not_crashes() {
    let c = async_wat();
    let i = instance(&c);
    let f = i.get_func("deadlock").expect("deadlock");
    let mut call = i.call_async(&f, &[]).expect("start");
    let e = loop {
        match call.poll_ready() {
            Ok(None) => continue,
            Ok(Some(v)) => panic!("deadlock returned {v:?}"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(&e, Error::Trap(t) if t.rendered().contains("deadlock detected")),
        "{e:?}"
    );
    drop(call);

    // A call dropped while it waits for the host: its frames unwind, the instance is poisoned.
    let Some(g) = rust_guest() else { return };
    let i = instance(&g);
    let f = i.get_func("sum-bytes").expect("sum-bytes");
    let (v, w) = i.with_host_cx(|cx| {
        cx.stream_from_host(&InterfaceType::Stream(Some(Box::new(InterfaceType::U8))))
            .expect("stream_from_host")
    });
    let mut call = i.call_async(&f, &[v]).expect("start");
    assert!(
        call.poll_ready().expect("poll").is_none(),
        "waits for the host"
    );
    drop(call);
    assert!(i.is_poisoned());
    drop(w);
    drop(i);
    // The process goes on.
    let i = instance(&g);
    assert_eq!(
        i.call("double", &[Val::U32(4)]).expect("call"),
        Some(Val::U32(8))
    );
}

#[test]
fn host_timers_and_idle_event_loops() {
    let c = async_wat();
    let i = instance(&c);
    // `HostCx::sleep_until` outside any task: the event loop waits for the timer.
    let deadline = std::time::Instant::now() + Duration::from_millis(30);
    i.with_host_cx(|cx| cx.sleep_until(deadline))
        .expect("sleep");
    assert!(std::time::Instant::now() >= deadline);
    // Waiting for something no task and no host operation will bring is a deadlock error,
    // not a hang.
    let flag = Arc::new(AtomicBool::new(false));
    let f2 = flag.clone();
    let e = i
        .run_until(move || f2.load(Ordering::Acquire))
        .expect_err("nothing can make the flag true");
    assert!(e.to_string().contains("deadlock"), "{e}");
    flag.store(true, Ordering::Release);
}

/// A linker whose `sleep: async func(ms: u32)` waits with `HostCx::sleep_until`.
fn sleeping_instance(l: &Loaded) -> ComponentInstance {
    let mut linker = ComponentLinker::new(&l.engine);
    linker.func_cx("sleep", |cx, args| {
        let Some(Val::U32(ms)) = args.first() else {
            panic!("sleep takes a u32, got {args:?}");
        };
        let until = std::time::Instant::now() + Duration::from_millis(u64::from(*ms));
        cx.sleep_until(until)?;
        Ok(None)
    });
    linker.instantiate(&l.component).expect("instantiate")
}

#[test]
fn async_host_imports_suspend_only_their_subtask_and_can_be_cancelled() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("components/async-host-import.wat");
    let l = load(&wat::parse_file(path).expect("wat"), "host-import");
    let i = sleeping_instance(&l);
    // Two 300 ms sleeps, both STARTED at once (the guest traps otherwise), overlap.
    let t = std::time::Instant::now();
    assert_eq!(
        i.call("sleep-twice", &[Val::U32(300)])
            .expect("sleep-twice"),
        Some(Val::U32(2))
    );
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        took < Duration::from_millis(580),
        "the sleeps ran one after the other: {took:?}"
    );
    // A sleep of an hour, cancelled at once: CANCELLED_BEFORE_RETURNED (4), without waiting.
    let t = std::time::Instant::now();
    assert_eq!(
        i.call("cancel-sleep", &[Val::U32(3_600_000)])
            .expect("cancel-sleep"),
        Some(Val::U32(4))
    );
    assert!(t.elapsed() < Duration::from_secs(60));
    // The instance goes on working.
    assert_eq!(
        i.call("sleep-twice", &[Val::U32(1)]).expect("sleep-twice"),
        Some(Val::U32(2))
    );
}

#[test]
fn results_with_strings_outlive_the_guests_copy() {
    // wit-bindgen frees an async export's result as soon as `task.return` returns: the host
    // must get its own copy (and a calling component one it can lower).
    let Some(g) = rust_guest() else { return };
    let i = instance(&g);
    for n in [0u32, 1, 50, 2000] {
        let want: Vec<Val> = (0..n)
            .map(|i| Val::String(format!("word-{i}-{}", "x".repeat(i as usize % 7))))
            .collect();
        let got = i.call("words", &[Val::U32(n)]).expect("words");
        assert_eq!(got, Some(Val::List(want.clone())), "words({n})");
        let f = i.get_func("words").expect("words");
        let got = i
            .call_async(&f, &[Val::U32(n)])
            .expect("start")
            .wait()
            .expect("wait");
        assert_eq!(got, Some(Val::List(want)), "words({n}) through call_async");
    }
}
