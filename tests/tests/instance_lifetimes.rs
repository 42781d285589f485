//! Instances are freed when nothing reaches them any more, including the core instances of a
//! component that keep each other alive through an imported funcref table (wit-component's
//! shim/fixup pattern, in every WASI component): each instantiation used to leak them.
//! Observed through the engine's reservation pool: a freed instance returns its memories and
//! tables to it.

use kiln_runtime::component::Val;
use kiln_runtime::{ComponentLinker, Engine, Error};

#[test]
fn component_core_instances_in_a_table_cycle_are_freed() {
    let engine = Engine::default();
    let (_dir, c) = kiln_tests::load_component_file(&engine, "shim-cycle.wat", &Default::default());
    let pre = ComponentLinker::new(&engine)
        .instantiate_pre(&c)
        .expect("pre");
    let before = engine.pooled_reservations();
    let i = pre.instantiate().expect("instance");
    assert_eq!(i.call("run", &[Val::U32(21)]).unwrap(), Some(Val::U32(42)));
    drop(i);
    // Three memories (shim, main, impl) and the shim's table came back.
    let returned = engine.pooled_reservations() - before;
    assert!(
        returned >= 4,
        "only {returned} reservations returned: core instances leaked"
    );
    // Many instantiations reuse those slots instead of growing the process.
    for round in 0..50 {
        let i = pre.instantiate().expect("instance");
        assert_eq!(
            i.call("run", &[Val::U32(round)]).unwrap(),
            Some(Val::U32(2 * round))
        );
    }
    assert!(engine.pooled_reservations() >= before + 4);
}

/// A core instance the host still holds after dropping the component instance keeps working:
/// the references its table held into freed siblings are null (a trap), never freed memory.
#[test]
fn a_core_instance_held_past_its_component_sees_null_references() {
    let engine = Engine::default();
    let (_dir, c) = kiln_tests::load_component_file(&engine, "shim-cycle.wat", &Default::default());
    let i = ComponentLinker::new(&engine)
        .instantiate(&c)
        .expect("instance");
    let shim = i.core_instances()[0].clone();
    let f = shim.get_func("f").expect("shim f");
    assert!(matches!(
        f.call(&[kiln_runtime::Val::I32(5)]).unwrap()[..],
        [kiln_runtime::Val::I32(10)]
    ));
    drop(i);
    match f.call(&[kiln_runtime::Val::I32(5)]) {
        Err(Error::Trap(t)) => assert!(
            t.to_string().contains("null") || t.to_string().contains("uninitialized"),
            "{t}"
        ),
        other => panic!("expected a trap on the freed reference, got {other:?}"),
    }
}
