//! Typed calls of component exports (`ComponentInstance::typed_func` / `TypedFunc::call`):
//! primitives, strings in UTF-8 and UTF-16 guests, lists, options, results, tuples, a record
//! from `component_record!`, a hand-written enum impl, type mismatches at lookup, guest traps,
//! post-return, and agreement with the dynamic `Val` path.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::component::{
    mismatch, ComponentType, InterfaceType, Lift, Lower, LowerCx, TypedFunc, Val,
};
use kiln_runtime::{component_enum, component_record, ComponentInstance, ComponentLinker, Engine};
use kiln_runtime::{Error, Trap};

struct Loaded {
    _dir: TempDir,
    instance: ComponentInstance,
}

fn load(name: &str) -> Loaded {
    let engine = Engine::default();
    let (dir, component) = kiln_tests::load_component_file(&engine, name, &Default::default());
    let instance = ComponentLinker::new(&engine)
        .instantiate(&component)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    Loaded {
        _dir: dir,
        instance,
    }
}

fn typed<P, R>(l: &Loaded, name: &str) -> TypedFunc<P, R>
where
    P: kiln_runtime::component::ComponentParams,
    R: Lift,
{
    l.instance
        .typed_func::<P, R>(name)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Calls `name` with one argument through the typed path and checks it echoes it.
fn echo<T: Lower + Lift + Clone + PartialEq + std::fmt::Debug>(l: &Loaded, name: &str, x: T) {
    let f = typed::<(T,), T>(l, name);
    assert_eq!(f.call((x.clone(),)).unwrap(), x, "{name}");
}

#[test]
fn primitives() {
    let l = load("calls.wat");
    echo(&l, "echo-bool", true);
    echo(&l, "echo-bool", false);
    echo(&l, "echo-s8", i8::MIN);
    echo(&l, "echo-u8", u8::MAX);
    echo(&l, "echo-s16", i16::MIN);
    echo(&l, "echo-u16", u16::MAX);
    echo(&l, "echo-s32", i32::MIN);
    echo(&l, "echo-u32", u32::MAX);
    echo(&l, "echo-s64", i64::MIN);
    echo(&l, "echo-u64", u64::MAX);
    echo(&l, "echo-f32", -1.5f32);
    echo(&l, "echo-f64", 1e300f64);
    echo(&l, "echo-char", '😀');
    let f = typed::<(f32,), f32>(&l, "echo-f32");
    assert!(f.call((f32::NAN,)).unwrap().is_nan());
}

#[test]
fn strings_and_lists() {
    let l = load("calls.wat");
    for s in ["", "hello", "héllo wörld 😀", &"x".repeat(1000)] {
        echo(&l, "echo-string", s.to_string());
        echo(&l, "echo-string16", s.to_string());
        echo(&l, "echo-string-latin1", s.to_string());
        let f = typed::<(&str,), String>(&l, "echo-string16");
        assert_eq!(f.call((s,)).unwrap(), s);
        let len = typed::<(&str,), u32>(&l, "len16");
        assert_eq!(
            len.call((s,)).unwrap() as usize,
            s.encode_utf16().count(),
            "{s}"
        );
    }
    echo(&l, "echo-list", Vec::<u32>::new());
    echo(&l, "echo-list", vec![1u32, 2, 3, u32::MAX]);
    echo(
        &l,
        "echo-strings",
        vec!["a".to_string(), String::new(), "ü😀".to_string()],
    );
    echo(&l, "echo-chars", vec!['a', 'ß', '😀']);
    let f = typed::<(&[u32],), Vec<u32>>(&l, "echo-list");
    assert_eq!(f.call((&[7, 8][..],)).unwrap(), vec![7, 8]);

    let g = load("greet.wat");
    let greet = typed::<(&str,), String>(&g, "greet");
    let expected = g.instance.call("greet", &[Val::String("kiln".into())]);
    assert_eq!(
        Some(Val::String(greet.call(("kiln",)).unwrap())),
        expected.unwrap()
    );
    let count = typed::<(Vec<u32>,), u32>(&g, "test:greet/api#count");
    assert_eq!(count.call((vec![1, 2, 3],)).unwrap(), 3);
    let pair = typed::<(u8,), (u8, String)>(&g, "test:greet/api#pair");
    let dynamic = g
        .instance
        .call("test:greet/api#pair", &[Val::U8(5)])
        .unwrap();
    let (a, b) = pair.call((5,)).unwrap();
    assert_eq!(Some(Val::Tuple(vec![Val::U8(a), Val::String(b)])), dynamic);
    let nothing = typed::<(), ()>(&g, "nothing");
    nothing.call(()).unwrap();
}

#[test]
fn options_results_tuples() {
    let l = load("calls.wat");
    echo(&l, "echo-tuple", (u64::MAX, true));
    echo(&l, "echo-tuple", (0u64, false));
    echo(&l, "echo-result", Ok::<String, u32>("fine".into()));
    echo(&l, "echo-result", Err::<String, u32>(42));
    let opt = typed::<(Option<u32>,), u32>(&l, "option-arg");
    for x in [None, Some(0), Some(41), Some(u32::MAX)] {
        let dynamic = l
            .instance
            .call(
                "option-arg",
                &[Val::Option(x.map(|v| Box::new(Val::U32(v))))],
            )
            .unwrap();
        assert_eq!(Some(Val::U32(opt.call((x,)).unwrap())), dynamic, "{x:?}");
    }
}

component_record!(
    struct Rec {
        a: u8,
        b: String,
        c: char,
    }
);

#[test]
fn record_macro() {
    let l = load("calls.wat");
    let r = Rec {
        a: 200,
        b: "record ✓".into(),
        c: 'z',
    };
    echo(&l, "echo-rec", r.clone());
    let dynamic = l
        .instance
        .call(
            "echo-rec",
            &[Val::Record(vec![
                ("a".into(), Val::U8(r.a)),
                ("b".into(), Val::String(r.b.clone())),
                ("c".into(), Val::Char(r.c)),
            ])],
        )
        .unwrap();
    let Some(Val::Record(fields)) = dynamic else {
        panic!("{dynamic:?}")
    };
    assert_eq!(fields[1].1, Val::String(r.b));
    // A record with other field names does not match.
    component_record!(
        struct Other {
            a: u8,
            x: String,
            c: char,
        }
    );
    assert!(l
        .instance
        .typed_func::<(Other,), Other>("echo-rec")
        .is_err());
}

/// The `en` enum of calls.wat, implemented by hand (the documented manual pattern).
#[derive(Debug, Clone, Copy, PartialEq)]
enum En {
    X,
    Y,
    Z,
}

// SAFETY: an enum is a `u32` case index; `store` writes one of the three cases.
unsafe impl ComponentType for En {
    const SIZE: usize = 4;
    const ALIGN: usize = 4;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        match ty {
            InterfaceType::Enum(labels) if labels == &["x", "y", "z"] => Ok(()),
            _ => Err(mismatch::<Self>(Some(ty))),
        }
    }
}

// SAFETY: as above.
unsafe impl Lower for En {
    fn store(&self, _cx: &mut LowerCx, dst: &mut [u8]) {
        dst[..4].copy_from_slice(&(*self as u32).to_ne_bytes());
    }
}

impl Lift for En {
    unsafe fn load(src: *const u8) -> Result<Self, Error> {
        // SAFETY: the caller guarantees 4 readable bytes.
        match unsafe { src.cast::<u32>().read_unaligned() } {
            0 => Ok(En::X),
            1 => Ok(En::Y),
            2 => Ok(En::Z),
            n => Err(Error::Other(format!("invalid enum case {n}"))),
        }
    }
}

component_enum!(
    enum En2 {
        X = "x",
        Y = "y",
        Z = "z",
    }
);
component_enum!(
    enum Wrong {
        X = "x",
        Z = "z",
        Y = "y",
    }
);

#[test]
fn enum_macro() {
    let l = load("calls.wat");
    for e in [En2::X, En2::Y, En2::Z] {
        echo(&l, "echo-enum", e);
    }
    let dynamic = l
        .instance
        .call("echo-enum", &[Val::Enum("z".into())])
        .unwrap();
    assert_eq!(dynamic, Some(Val::Enum("z".into())));
    assert!(l
        .instance
        .typed_func::<(Wrong,), Wrong>("echo-enum")
        .is_err());
    let bad = typed::<(), En2>(&l, "bad-enum");
    assert!(matches!(bad.call(()), Err(Error::Trap(_))));
}

#[test]
fn manual_enum() {
    let l = load("calls.wat");
    for e in [En::X, En::Y, En::Z] {
        echo(&l, "echo-enum", e);
    }
}

#[test]
fn mismatches_are_errors() {
    let l = load("calls.wat");
    let i = &l.instance;
    assert!(i.typed_func::<(u32,), u32>("echo-u64").is_err());
    assert!(i.typed_func::<(u64,), u32>("echo-u64").is_err());
    assert!(i.typed_func::<(u64, u64), u64>("echo-u64").is_err());
    assert!(i.typed_func::<(), u64>("echo-u64").is_err());
    assert!(i.typed_func::<(String,), ()>("echo-string").is_err());
    assert!(i.typed_func::<(Vec<u8>,), Vec<u8>>("echo-list").is_err());
    assert!(i
        .typed_func::<(Result<String, ()>,), Result<String, u32>>("echo-result")
        .is_err());
    assert!(i.typed_func::<(Option<u32>,), u32>("echo-tuple").is_err());
    assert!(i.typed_func::<(), ()>("no-such-export").is_err());
    let e = i.typed_func::<(i32,), i32>("echo-u32").err().unwrap();
    assert!(e.to_string().contains("mismatch"), "{e}");
}

#[test]
fn traps_are_errors_and_post_return_runs() {
    let l = load("calls.wat");
    let bad = typed::<(), char>(&l, "bad-surrogate");
    assert!(matches!(bad.call(()), Err(Error::Trap(Trap { .. }))));
    let bad = typed::<(), String>(&l, "bad-utf8");
    assert!(matches!(bad.call(()), Err(Error::Trap(_))));
    // A trap leaves the instance unenterable (as on the dynamic path).
    let f = typed::<(u32,), u32>(&l, "echo-u32");
    assert!(f.call((5,)).is_err());
    assert!(l.instance.call("echo-u32", &[Val::U32(5)]).is_err());
    let l = load("calls.wat");
    let count = typed::<(), u32>(&l, "post-count");
    let add = typed::<(u32,), u32>(&l, "add-post");
    let before = count.call(()).unwrap();
    assert_eq!(add.call((9,)).unwrap(), 9);
    assert_eq!(count.call(()).unwrap(), before + 1);
}

#[test]
fn agrees_with_dynamic_path() {
    let l = load("calls.wat");
    let f = typed::<(Vec<String>,), Vec<String>>(&l, "echo-strings");
    let xs = vec!["one".to_string(), "two ✓".to_string()];
    let dynamic = l
        .instance
        .call(
            "echo-strings",
            &[Val::List(xs.iter().cloned().map(Val::String).collect())],
        )
        .unwrap();
    let out = f.call((xs,)).unwrap();
    assert_eq!(
        Some(Val::List(out.into_iter().map(Val::String).collect())),
        dynamic
    );
}

/// The `fl` flags of calls.wat (`r`, `w`, `x`), by hand: one `u32` word.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fl(u32);

// SAFETY: flags with 3 labels are one `u32` word; `store` writes only the 3 label bits.
unsafe impl ComponentType for Fl {
    const SIZE: usize = 4;
    const ALIGN: usize = 4;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        match ty {
            InterfaceType::Flags(labels) if labels == &["r", "w", "x"] => Ok(()),
            _ => Err(mismatch::<Self>(Some(ty))),
        }
    }
}

// SAFETY: as above.
unsafe impl Lower for Fl {
    fn store(&self, _cx: &mut LowerCx, dst: &mut [u8]) {
        dst[..4].copy_from_slice(&(self.0 & 0b111).to_ne_bytes());
    }
}

impl Lift for Fl {
    unsafe fn load(src: *const u8) -> Result<Self, Error> {
        // SAFETY: the caller guarantees 4 readable bytes.
        Ok(Fl(unsafe { src.cast::<u32>().read_unaligned() }))
    }
}

/// The `var` variant of calls.wat, by hand: `u32` tag at 0, payload union (8 bytes,
/// alignment 8) at 8.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Var {
    A(u32),
    B(f32),
    C(u64),
    D,
}

// SAFETY: the host struct `{ uint32_t tag; union { u32; f32; u64 } payload; }`.
unsafe impl ComponentType for Var {
    const SIZE: usize = 16;
    const ALIGN: usize = 8;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        let ok = match ty {
            InterfaceType::Variant(cases) => {
                let shape: Vec<(&str, Option<&InterfaceType>)> = cases
                    .iter()
                    .map(|c| (c.name.as_str(), c.ty.as_ref()))
                    .collect();
                shape
                    == [
                        ("a", Some(&InterfaceType::U32)),
                        ("b", Some(&InterfaceType::F32)),
                        ("c", Some(&InterfaceType::U64)),
                        ("d", None),
                    ]
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(mismatch::<Self>(Some(ty)))
        }
    }
}

// SAFETY: as above; the tag is one of the 4 cases.
unsafe impl Lower for Var {
    fn store(&self, cx: &mut LowerCx, dst: &mut [u8]) {
        let tag: u32 = match self {
            Var::A(x) => {
                x.store(cx, &mut dst[8..]);
                0
            }
            Var::B(x) => {
                x.store(cx, &mut dst[8..]);
                1
            }
            Var::C(x) => {
                x.store(cx, &mut dst[8..]);
                2
            }
            Var::D => 3,
        };
        dst[..4].copy_from_slice(&tag.to_ne_bytes());
    }
}

#[test]
fn manual_flags_and_variant() {
    let l = load("calls.wat");
    for bits in [0, 0b001, 0b101, 0b111] {
        echo(&l, "echo-flags", Fl(bits));
    }
    let f = typed::<(Var,), u64>(&l, "variant-arg");
    for (v, d) in [
        (
            Var::A(7),
            Val::Variant("a".into(), Some(Box::new(Val::U32(7)))),
        ),
        (
            Var::B(1.5),
            Val::Variant("b".into(), Some(Box::new(Val::Float32(1.5)))),
        ),
        (
            Var::C(u64::MAX - 1),
            Val::Variant("c".into(), Some(Box::new(Val::U64(u64::MAX - 1)))),
        ),
        (Var::D, Val::Variant("d".into(), None)),
    ] {
        let dynamic = l.instance.call("variant-arg", &[d]).unwrap();
        assert_eq!(Some(Val::U64(f.call((v,)).unwrap())), dynamic, "{v:?}");
    }
}
