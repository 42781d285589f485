//! Host-implemented resources through the context host-function API (`ComponentLinker::func_cx`,
//! `resource_dtor`, `instance_state`): per-instance host state, own handles made by the host,
//! borrows and owns passed back by the guest, the host destructor run when the guest drops an
//! own handle, forged handles trapping, and imports matched across compatible versions.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::component::{HostCx, Val};
use kiln_runtime::{Component, ComponentInstance, ComponentLinker, Engine, Error, Trap};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The host's counters of one instance: representation → value.
#[derive(Default)]
struct Counters {
    values: Mutex<HashMap<u32, u32>>,
    next_rep: Mutex<u32>,
}

/// Destructor calls seen, over all instances: (instance tag, rep, final value).
type Drops = Arc<Mutex<Vec<u32>>>;

// Defined at 0.1.3: the component imports 0.1.0, a compatible version.
const IFACE: &str = "test:host/counters@0.1.3";
const RESOURCE: &str = "test:host/counters@0.1.3#counter";

fn linker(engine: &Engine, drops: Drops) -> ComponentLinker {
    let mut l = ComponentLinker::new(engine);
    l.instance_state(|| Ok(Counters::default()));
    l.func_cx(&format!("{IFACE}#[constructor]counter"), |cx, args| {
        let Some(Val::U32(start)) = args.first() else {
            return Err(Trap::host("bad start"));
        };
        let st = cx.state::<Counters>()?;
        let rep = {
            let mut n = st.next_rep.lock().unwrap();
            *n += 1;
            *n
        };
        st.values.lock().unwrap().insert(rep, *start);
        let res = cx.resource_index(RESOURCE)?;
        cx.new_own(res, rep).map(Some)
    });
    l.func_cx(&format!("{IFACE}#[method]counter.next"), |cx, args| {
        let res = cx.resource_index(RESOURCE)?;
        let rep = cx.rep(res, &args[0])?;
        let st = cx.state::<Counters>()?;
        let mut v = st.values.lock().unwrap();
        let c = v
            .get_mut(&rep)
            .ok_or_else(|| Trap::host("no such counter"))?;
        let now = *c;
        *c += 1;
        Ok(Some(Val::U32(now)))
    });
    l.func_cx(&format!("{IFACE}#consume"), |cx, args| {
        let res = cx.resource_index(RESOURCE)?;
        let rep = cx.take_own(res, &args[0])?;
        let st = cx.state::<Counters>()?;
        let v = st.values.lock().unwrap().remove(&rep);
        Ok(Some(Val::U32(
            v.ok_or_else(|| Trap::host("no such counter"))? * 100,
        )))
    });
    l.resource_dtor(RESOURCE, move |cx, rep| {
        let st = cx.state::<Counters>()?;
        let v = st.values.lock().unwrap().remove(&rep);
        drops
            .lock()
            .unwrap()
            .push(v.ok_or_else(|| Trap::host("double drop"))?);
        Ok(())
    });
    l
}

fn setup() -> (TempDir, Engine, Component) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("components/host-resource.wat");
    let wasm = wat::parse_file(&path).expect("wat");
    let dir = TempDir::new("kiln-host-resources").expect("temp dir");
    let so = dir.path().join("c.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .expect("compile");
    let engine = Engine::default();
    let component = Component::load(&engine, &so).expect("load");
    (dir, engine, component)
}

fn call(i: &ComponentInstance, name: &str, start: u32) -> Result<Option<Val>, Error> {
    i.call(name, &[Val::U32(start)])
}

#[test]
fn guest_uses_and_drops_a_host_resource() {
    let (_dir, engine, component) = setup();
    let drops = Drops::default();
    let i = linker(&engine, drops.clone())
        .instantiate(&component)
        .expect("instantiate");
    assert_eq!(call(&i, "count", 5).unwrap(), Some(Val::U32(7)));
    // The guest dropped its own handle: the host destructor saw the counter at 8.
    assert_eq!(*drops.lock().unwrap(), vec![8]);
    assert_eq!(call(&i, "count", 40).unwrap(), Some(Val::U32(42)));
    assert_eq!(*drops.lock().unwrap(), vec![8, 43]);
}

#[test]
fn guest_gives_an_own_handle_back_to_the_host() {
    let (_dir, engine, component) = setup();
    let drops = Drops::default();
    let i = linker(&engine, drops.clone())
        .instantiate(&component)
        .expect("instantiate");
    // new(3), next() → 4, consume → 400; the host took it, so no destructor ran.
    assert_eq!(call(&i, "give", 3).unwrap(), Some(Val::U32(400)));
    assert!(drops.lock().unwrap().is_empty());
}

#[test]
fn host_state_is_per_instance() {
    let (_dir, engine, component) = setup();
    let drops = Drops::default();
    let l = linker(&engine, drops.clone());
    let a = l.instantiate(&component).expect("a");
    let b = l.instantiate(&component).expect("b");
    assert_eq!(call(&a, "count", 1).unwrap(), Some(Val::U32(3)));
    assert_eq!(call(&b, "count", 10).unwrap(), Some(Val::U32(12)));
    assert_eq!(*drops.lock().unwrap(), vec![4, 13]);
}

#[test]
fn forged_handles_trap_and_the_host_survives() {
    let (_dir, engine, component) = setup();
    let i = linker(&engine, Drops::default())
        .instantiate(&component)
        .expect("instantiate");
    match i.call("forge", &[]) {
        Err(Error::Trap(t)) => assert!(
            t.message.contains("handle"),
            "unexpected trap message: {}",
            t.message
        ),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn missing_definitions_and_state_are_errors() {
    let (_dir, engine, component) = setup();
    // No constructor defined: instantiation names the missing import.
    let mut l = ComponentLinker::new(&engine);
    l.func_cx(&format!("{IFACE}#[method]counter.next"), |_, _| Ok(None));
    match l.instantiate(&component) {
        Err(e) => assert!(e.to_string().contains("[constructor]counter"), "{e}"),
        Ok(_) => panic!("instantiated without a constructor"),
    }
    // A host function asking for state nobody made traps instead of panicking.
    let mut l = linker(&engine, Drops::default());
    l.func_cx(
        &format!("{IFACE}#[constructor]counter"),
        |cx: &HostCx<'_>, _| cx.state::<String>().map(|_| None),
    );
    let i = l.instantiate(&component).expect("instantiate");
    match call(&i, "count", 1) {
        Err(Error::Trap(t)) => assert!(t.message.contains("no host state"), "{}", t.message),
        other => panic!("expected a trap, got {other:?}"),
    }
}
