//! Functions: guest exports, host functions, and calls in both directions.
//!
//! A [`Func`] is a stable `VMFuncRef` plus whatever keeps its code and context alive (the owning
//! instance, or the host closure). Host-to-guest calls go through the callee's array-call
//! trampoline inside [`crate::traps::catch_traps`]; guest-to-host calls arrive in
//! [`host_call_entry`] (through the importing module's host trampoline), which runs the closure
//! and turns an `Err(Trap)` into an unwind after dropping every Rust value.

use crate::engine::Engine;
use crate::error::{Error, Trap};
use crate::instance::{Instance, InstanceInner};
use crate::memory::Memory;
use crate::module::ModuleInner;
use crate::traps;
use crate::typed::WasmList;
use crate::values::{check_types, Val};
use crate::vm::{self, VMFuncRef, ValRaw};
use crate::Extern;
use kiln_environ::vmoffsets::HOST_CTX_MAGIC;
use kiln_environ::{FuncType, VMOffsets};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

/// The closure type of host functions.
pub type HostFn = dyn Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync;

/// The closure of a typed host function ([`Func::wrap`]): reads its parameters from the value
/// array and writes its results over them.
type RawHostFn = dyn Fn(&mut Caller<'_>, &mut [ValRaw]) -> Result<(), Trap> + Send + Sync;

/// How a host function is implemented.
enum HostImpl {
    /// With dynamic values ([`Func::new`]).
    Dynamic(Box<HostFn>),
    /// On raw slots of numeric types ([`Func::wrap`]): no `Val`s, no allocation.
    Raw(Box<RawHostFn>),
}

/// A host function and its host function context (the "vmctx" compiled code passes to it).
///
/// The first 48 bytes are the context layout the contract fixes: `HOST_CTX_MAGIC` at 0, the
/// array-call pointer at `HOST_CTX_ARRAY_CALL` (8), and zeros up to 48 so the context is never
/// mistaken for an instance VM context (whose magic is at 40).
#[repr(C)]
pub(crate) struct HostFunc {
    magic: u32,
    _pad: u32,
    array_call: usize,
    _reserved: [usize; 4],
    ty: FuncType,
    type_id: u32,
    engine: Engine,
    f: HostImpl,
}

const _: () = {
    assert!(
        std::mem::offset_of!(HostFunc, array_call)
            == kiln_environ::vmoffsets::HOST_CTX_ARRAY_CALL as usize
    );
    assert!(std::mem::offset_of!(HostFunc, _reserved) + 32 >= 48);
};

/// What keeps a function's code and context alive.
#[derive(Clone)]
pub(crate) enum FuncOwner {
    /// A function of an instance (its code, its VM context).
    Instance(Arc<InstanceInner>),
    /// A host function; `code` is the module whose host trampoline `wasm_call` points at.
    Host(Arc<HostFunc>, #[allow(dead_code)] Option<Arc<ModuleInner>>),
}

/// A guest-callable copy of a host function's reference and the module whose trampoline it uses.
type GuestRef = (Box<VMFuncRef>, Option<Arc<ModuleInner>>);

pub(crate) struct FuncInner {
    funcref: *const VMFuncRef,
    _own_ref: Option<Box<VMFuncRef>>,
    owner: FuncOwner,
    ty: FuncType,
    /// For host functions without a trampoline: copies whose `wasm_call` is usable by guests
    /// (the last one is current; earlier ones stay alive because guests may still hold them).
    guest_refs: Mutex<Vec<GuestRef>>,
}

// SAFETY: the funcref points at immutable data kept alive by `owner` (or owned); host closures
// are `Send + Sync`.
unsafe impl Send for FuncInner {}
// SAFETY: as above.
unsafe impl Sync for FuncInner {}

/// A function: a guest export or a host function. Cloning gives another handle.
#[derive(Clone)]
pub struct Func {
    pub(crate) inner: Arc<FuncInner>,
}

/// A set of functions whose references were handed to guest code (or stored where guest code
/// reads them), deduplicated by reference address so repeated hand-offs do not grow it.
#[derive(Default)]
pub(crate) struct KeepAlive(Mutex<std::collections::HashMap<usize, Func>>);

impl KeepAlive {
    /// Keeps `f` alive as long as this set.
    pub(crate) fn keep(&self, f: &Func) {
        let key = f.guest_funcref() as usize;
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(key).or_insert_with(|| f.clone());
    }
}

/// The caller of a host function: gives access to the calling instance's memories and exports.
pub struct Caller<'a> {
    /// The calling instance, made from `caller_vmctx` when first asked for (a host function
    /// that never looks at its caller does not pay for the handle).
    instance: std::cell::OnceCell<Option<Instance>>,
    /// The calling guest's VM context (or a host context, or null), live during the call.
    caller_vmctx: *mut u8,
    engine: &'a Engine,
}

impl<'a> Caller<'a> {
    /// A caller whose instance is known (or absent: a direct call from the host).
    fn known(instance: Option<Instance>, engine: &'a Engine) -> Caller<'a> {
        Caller {
            instance: std::cell::OnceCell::from(instance),
            caller_vmctx: std::ptr::null_mut(),
            engine,
        }
    }

    /// A caller reached through the VM context compiled code passed.
    ///
    /// # Safety
    /// `caller_vmctx` is null, a host context or a live instance VM context, and stays valid
    /// while the returned value is used.
    unsafe fn from_vmctx(caller_vmctx: *mut u8, engine: &'a Engine) -> Caller<'a> {
        Caller {
            instance: std::cell::OnceCell::new(),
            caller_vmctx,
            engine,
        }
    }

    /// The calling instance (None when the host called the function directly).
    pub fn instance(&self) -> Option<&Instance> {
        self.instance
            .get_or_init(|| {
                let v = self.caller_vmctx;
                // SAFETY: `from_vmctx`'s contract: null, a host context, or a live instance
                // VM context (told apart by its magic).
                if !v.is_null() && unsafe { vm::is_instance_vmctx(v) } {
                    // SAFETY: instance VM contexts hold a live `Arc<InstanceInner>` pointer.
                    Some(unsafe { Instance::from_vmctx(v) })
                } else {
                    None
                }
            })
            .as_ref()
    }

    /// Memory `index` (in the caller's memory index space).
    pub fn memory(&self, index: u32) -> Option<Memory> {
        self.instance()?.memory(index)
    }

    /// An export of the calling instance.
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        self.instance()?.get_export(name)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        self.engine
    }
}

impl Func {
    /// A host function. The closure gets the caller, the arguments, and writes the results.
    pub fn new(
        engine: &Engine,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> Func {
        let entry = host_call_entry as *const () as usize;
        Func::host(engine, ty, entry, [0; 3], HostImpl::Dynamic(Box::new(f)))
    }

    /// A host function with a Rust signature: `f(caller, params) -> Ok(results)`, where
    /// `params` and `results` are `()`, one of `i32`/`i64`/`f32`/`f64`, or a tuple of up to
    /// four. Guests call it without converting values to [`Val`]s and without allocating
    /// (the typed counterpart of [`Func::new`], as [`Func::typed`] is of [`Func::call`]).
    pub fn wrap<P: WasmList, R: WasmList>(
        engine: &Engine,
        f: impl Fn(&mut Caller<'_>, P) -> Result<R, Trap> + Send + Sync + 'static,
    ) -> Func {
        let ty = FuncType {
            params: P::types(),
            results: R::types(),
        };
        let raw = move |caller: &mut Caller<'_>, values: &mut [ValRaw]| {
            let results = f(caller, P::load(values))?;
            results.store(values);
            Ok(())
        };
        let entry = host_call_entry as *const () as usize;
        Func::host(engine, ty, entry, [0; 3], HostImpl::Raw(Box::new(raw)))
    }

    /// A host function whose guest-facing array-call entry is `array_call` (compiled code, such
    /// as a component import's canonical-ABI glue) instead of the closure: guests calling it
    /// reach `array_call` with this function's host context, whose words at byte offsets 16,
    /// 24 and 32 are `words`. The closure serves direct calls from the host.
    pub(crate) fn new_with_array_call(
        engine: &Engine,
        ty: FuncType,
        array_call: usize,
        words: [usize; 3],
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> Func {
        Func::host(
            engine,
            ty,
            array_call,
            words,
            HostImpl::Dynamic(Box::new(f)),
        )
    }

    /// A host function: its host context (entry `array_call`, context words `words`) and its
    /// function reference.
    fn host(
        engine: &Engine,
        ty: FuncType,
        array_call: usize,
        words: [usize; 3],
        f: HostImpl,
    ) -> Func {
        let type_id = engine.intern(&ty);
        let host = Arc::new(HostFunc {
            magic: HOST_CTX_MAGIC,
            _pad: 0,
            array_call,
            _reserved: [words[0], words[1], words[2], 0],
            ty: ty.clone(),
            type_id,
            engine: engine.clone(),
            f,
        });
        let r = Box::new(VMFuncRef {
            wasm_call: 0,
            array_call,
            vmctx: Arc::as_ptr(&host) as *mut u8,
            type_id,
        });
        Func::from_parts(&*r, Some(r), FuncOwner::Host(host, None), ty)
    }

    fn from_parts(
        funcref: *const VMFuncRef,
        own: Option<Box<VMFuncRef>>,
        owner: FuncOwner,
        ty: FuncType,
    ) -> Func {
        Func {
            inner: Arc::new(FuncInner {
                funcref,
                _own_ref: own,
                owner,
                ty,
                guest_refs: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A function of `instance` whose reference lives in its VM context.
    pub(crate) fn for_instance(instance: Arc<InstanceInner>, funcref: *const VMFuncRef) -> Func {
        // SAFETY: `funcref` points into `instance`'s VM context, which `instance` keeps alive.
        let r = unsafe { *funcref };
        let ty = instance
            .module
            .engine()
            .func_type(r.type_id)
            .unwrap_or_default();
        Func::from_raw_with_instance(instance, funcref, ty)
    }

    fn from_raw_with_instance(inst: Arc<InstanceInner>, p: *const VMFuncRef, ty: FuncType) -> Func {
        if inst.owns_funcref(p) {
            Func::from_parts(p, None, FuncOwner::Instance(inst), ty)
        } else {
            // SAFETY: the caller guarantees `p` is a live funcref; we copy it.
            let copy = Box::new(unsafe { *p });
            Func::from_parts(&*copy, Some(copy), FuncOwner::Instance(inst), ty)
        }
    }

    /// Rebuilds a handle from a raw `funcref` produced by guest code.
    ///
    /// # Safety
    /// `p` must point at a live `VMFuncRef` whose context is an instance VM context or a host
    /// function context.
    pub(crate) unsafe fn from_raw(engine: &Engine, p: *const VMFuncRef) -> Option<Func> {
        // SAFETY: caller contract.
        let r = unsafe { *p };
        let ty = engine.func_type(r.type_id)?;
        // SAFETY: caller contract: `r.vmctx` is one of the two context kinds.
        if unsafe { vm::is_instance_vmctx(r.vmctx) } {
            let off = VMOffsets::vmctx_instance() as usize;
            // SAFETY: an instance VM context holds `Arc::as_ptr` of its live `InstanceInner`;
            // we take a new strong reference to it.
            let inst = unsafe {
                let ptr = r.vmctx.add(off).cast::<*const InstanceInner>().read();
                Arc::increment_strong_count(ptr);
                Arc::from_raw(ptr)
            };
            Some(Func::from_raw_with_instance(inst, p, ty))
        // SAFETY: as above.
        } else if unsafe { vm::is_host_ctx(r.vmctx) } {
            let ptr = r.vmctx as *const HostFunc;
            // SAFETY: a host context is `Arc::as_ptr` of a live `HostFunc`.
            let host = unsafe {
                Arc::increment_strong_count(ptr);
                Arc::from_raw(ptr)
            };
            let code = traps::module_at(r.wasm_call);
            let copy = Box::new(r);
            Some(Func::from_parts(
                &*copy,
                Some(copy),
                FuncOwner::Host(host, code),
                ty,
            ))
        } else {
            None
        }
    }

    /// A host function imported by a module, with `wasm_call` set to that module's trampoline.
    pub(crate) fn host_with_trampoline(&self, wasm_call: usize, code: Arc<ModuleInner>) -> Func {
        let FuncOwner::Host(host, _) = &self.inner.owner else {
            return self.clone();
        };
        let mut r = self.raw();
        r.wasm_call = wasm_call;
        let copy = Box::new(r);
        Func::from_parts(
            &*copy,
            Some(copy),
            FuncOwner::Host(host.clone(), Some(code)),
            self.ty(),
        )
    }

    /// The function's type.
    pub fn ty(&self) -> FuncType {
        self.inner.ty.clone()
    }

    /// The function's type, borrowed (no clone on hot paths).
    pub(crate) fn ty_ref(&self) -> &FuncType {
        &self.inner.ty
    }

    /// Whether two handles refer to the same function reference.
    pub fn same(a: &Func, b: &Func) -> bool {
        let (ra, rb) = (a.raw(), b.raw());
        ra.vmctx == rb.vmctx && ra.array_call == rb.array_call && ra.wasm_call == rb.wasm_call
            || Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// The function's reference (a copy).
    pub(crate) fn raw(&self) -> VMFuncRef {
        // SAFETY: `funcref` is kept alive by `self.inner`.
        unsafe { *self.inner.funcref }
    }

    /// Whether this is a host function.
    pub fn is_host(&self) -> bool {
        matches!(self.inner.owner, FuncOwner::Host(..))
    }

    /// The engine the function belongs to.
    pub(crate) fn engine(&self) -> &Engine {
        match &self.inner.owner {
            FuncOwner::Instance(i) => i.module.engine(),
            FuncOwner::Host(h, _) => &h.engine,
        }
    }

    /// The store of a guest function (host functions have none: they run in their caller's).
    pub(crate) fn store(&self) -> Option<Arc<crate::store::StoreInner>> {
        self.instance().map(|i| i.store())
    }

    /// The owner instance, for guest functions.
    pub(crate) fn instance(&self) -> Option<&Arc<InstanceInner>> {
        match &self.inner.owner {
            FuncOwner::Instance(i) => Some(i),
            FuncOwner::Host(..) => None,
        }
    }

    /// A `*const VMFuncRef` guest code may call through (its `wasm_call` is always callable):
    /// a host function that was never imported borrows the wasm-to-host trampoline of any loaded
    /// module with the same signature, or traps when called if there is none.
    pub(crate) fn guest_funcref(&self) -> *const VMFuncRef {
        let r = self.raw();
        if r.wasm_call != 0 {
            return self.inner.funcref;
        }
        let stub = missing_trampoline as *const () as usize;
        let mut refs = self
            .inner
            .guest_refs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((b, _)) = refs.last() {
            if b.wasm_call != stub {
                return &**b;
            }
        }
        let found = match &self.inner.owner {
            FuncOwner::Host(h, _) => h.engine.host_trampoline(r.type_id),
            FuncOwner::Instance(_) => None,
        };
        if found.is_none() && !refs.is_empty() {
            let (b, _) = refs.last().expect("checked non-empty");
            return &**b;
        }
        let (wasm_call, module) = found.map_or((stub, None), |(a, m)| (a, Some(m)));
        refs.push((Box::new(VMFuncRef { wasm_call, ..r }), module));
        let (b, _) = refs.last().expect("just pushed");
        &**b
    }

    /// Calls a guest function through its array-call trampoline with `values` (arguments in,
    /// results out), entering its store.
    ///
    /// # Safety
    /// `values` must hold arguments of the function's parameter types (live references) and
    /// have at least max(params, results, 1) slots; the function must be a guest function with
    /// an array-call trampoline.
    pub(crate) unsafe fn call_raw_values(&self, values: &mut [ValRaw]) -> Result<(), Error> {
        let FuncOwner::Instance(inst) = &self.inner.owner else {
            return Err(Error::Other("not a guest function".into()));
        };
        let r = self.raw();
        // SAFETY: `array_call` is the array-call trampoline of a function whose code and
        // context `inst` keeps alive (caller contract: nonzero).
        let f: unsafe extern "C" fn(*mut u8, *mut u8, *mut ValRaw, usize) =
            unsafe { std::mem::transmute(r.array_call) };
        let (vals, n) = (values.as_mut_ptr(), values.len());
        let mut body = || {
            // SAFETY: see above; this closure owns nothing that needs dropping.
            unsafe { f(r.vmctx, r.vmctx, vals, n) }
        };
        // SAFETY: the body holds only raw pointers; the slot is the store slot of the instance
        // `inst`, alive for the call.
        unsafe {
            crate::store::run_in_store(
                inst.store_slot(),
                inst.module.engine().config().max_wasm_stack,
                &mut body,
            )
        }
    }

    /// Calls the function's array-call entry with its own context and `values` (arguments in,
    /// results out), without entering a store: for compiled glue behind a host context (a
    /// component's fused adapter), called by the runtime inside a store it entered.
    ///
    /// # Safety
    /// The caller is inside `catch_traps` (a store entered on this thread); `values` holds
    /// arguments of the function's parameter types and has at least max(params, results, 1)
    /// slots; the entry is compiled code that reads only its context and `values`.
    pub(crate) unsafe fn call_array_entry(&self, values: &mut [ValRaw]) {
        let r = self.raw();
        // SAFETY: caller contract; `array_call` of every function reference is an array-call
        // entry of this signature.
        let f: unsafe extern "C" fn(*mut u8, *mut u8, *mut ValRaw, usize) =
            unsafe { std::mem::transmute(r.array_call) };
        // SAFETY: as above.
        unsafe { f(r.vmctx, r.vmctx, values.as_mut_ptr(), values.len()) }
    }

    /// Calls the function; arguments are type-checked. A guest trap is `Err(Error::Trap(..))`.
    pub fn call(&self, args: &[Val]) -> Result<Vec<Val>, Error> {
        let ty = &self.inner.ty;
        check_types("arguments", args, &ty.params)?;
        match &self.inner.owner {
            FuncOwner::Host(host, _) => {
                let mut results: Vec<Val> =
                    ty.results.iter().map(|t| Val::default_for(*t)).collect();
                let mut caller = Caller::known(None, &host.engine);
                match &host.f {
                    HostImpl::Dynamic(f) => f(&mut caller, args, &mut results)?,
                    HostImpl::Raw(f) => {
                        // Numeric types only (`wrap`): no function references to keep alive.
                        let n = ty.params.len().max(ty.results.len());
                        let mut raw = vec![ValRaw::default(); n];
                        for (slot, a) in raw.iter_mut().zip(args) {
                            *slot = ValRaw::from_u128(a.to_raw(&mut |_| {}));
                        }
                        f(&mut caller, &mut raw)?;
                        for (r, (t, v)) in results.iter_mut().zip(ty.results.iter().zip(&raw)) {
                            // SAFETY: the closure stored values of the declared result types.
                            *r = unsafe { Val::from_raw(&host.engine, *t, v.get_u128()) };
                        }
                    }
                }
                check_types("results", &results, &ty.results)
                    .map_err(|e| Error::Trap(Trap::host(format!("host function: {e}"))))?;
                Ok(results)
            }
            FuncOwner::Instance(inst) => {
                let r = self.raw();
                if r.array_call == 0 {
                    return Err(Error::Other(
                        "function cannot be called from the host (no array-call trampoline)".into(),
                    ));
                }
                let engine = inst.module.engine();
                admit_funcrefs(args, engine, inst)?;
                let n = ty.params.len().max(ty.results.len()).max(1);
                let mut values = vec![ValRaw::default(); n];
                for (slot, a) in values.iter_mut().zip(args) {
                    *slot = ValRaw::from_u128(a.to_raw(&mut |f| inst.keep_alive(f)));
                }
                // SAFETY: `values` holds the checked arguments and `n >= max(params, results)`
                // slots; `array_call` is nonzero.
                unsafe { self.call_raw_values(&mut values)? };
                if crate::values::non_null_exnref(&ty.results, values.iter().map(|v| v.get_u128()))
                {
                    return Err(Error::Other(
                        "the function returned an exception reference, which cannot leave wasm"
                            .into(),
                    ));
                }
                let mut results = Vec::with_capacity(ty.results.len());
                for (t, raw) in ty.results.iter().zip(&values) {
                    // SAFETY: the guest wrote values of the declared result types.
                    results.push(unsafe { Val::from_raw(engine, *t, raw.get_u128()) });
                }
                Ok(results)
            }
        }
    }
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Func({})", self.inner.ty)
    }
}

/// Guest-to-host entry: the array-call pointer of every host function context.
///
/// A naked wrapper records the guest's frame pointer and return address (for trap backtraces)
/// and tail-jumps to [`host_call`].
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn host_call_entry(
    host_ctx: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut ValRaw,
    len: usize,
) {
    traps::exit_to_runtime!(host_call)
}

/// Stack a host function is guaranteed when guest code calls it: less left is a stack
/// overflow trap (the thread's stack limit keeps more than this free below guest frames).
const HOST_CALL_STACK: usize = 64 * 1024;

/// Checks function references the host hands to guest code of `store`: each must come from
/// `engine`, and the store of a guest function joins `store` (so one thread at a time runs
/// everything guest code can reach).
pub(crate) fn admit_funcrefs(
    vals: &[Val],
    engine: &Engine,
    instance: &InstanceInner,
) -> Result<(), Error> {
    for v in vals {
        if let Val::FuncRef(Some(f)) = v {
            if !Engine::same(f.engine(), engine) {
                return Err(crate::store::engine_mismatch("a function argument"));
            }
            if let Some(s) = f.store() {
                // Looked up only here: calls without function references pay nothing.
                crate::store::join(&instance.store(), &s)?;
            }
        }
    }
    Ok(())
}

unsafe extern "C" fn host_call(
    ctx: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut ValRaw,
    len: usize,
) {
    let exit = traps::last_exit();
    // SAFETY: called by a host trampoline with our own host context and a value array of `len`.
    let result = unsafe { host_call_inner(ctx, caller_vmctx, values, len) };
    if let Err(trap) = result {
        traps::set_exit(exit);
        // A trap carrying an exception throws it in the caller (see `exception.rs`).
        // SAFETY: `caller_vmctx` is the caller's context, as for `host_call_inner`.
        match unsafe { host_throw(trap, caller_vmctx) } {
            // SAFETY: every Rust value of this call was dropped (the action holds none).
            Ok((r, exn)) => unsafe { crate::throw::resume(r, exn) },
            // SAFETY: every Rust value of this call was dropped by `host_call_inner`; `trap`
            // moves.
            Err(trap) => unsafe { traps::raise_user_trap(trap) },
        }
    }
}

/// Where a host function's error goes: the handler of its exception in the guest, if it has
/// an exception and a guest frame catches it; otherwise it stays a trap.
///
/// # Safety
/// `caller_vmctx` must be null or the calling guest's VM context (or a host context).
unsafe fn host_throw(
    trap: Trap,
    caller_vmctx: *mut u8,
) -> Result<(crate::throw::Resume, usize), Trap> {
    let Some(exception) = &trap.exception else {
        return Err(trap);
    };
    // SAFETY: caller contract.
    let caller = if !caller_vmctx.is_null() && unsafe { vm::is_instance_vmctx(caller_vmctx) } {
        // SAFETY: instance VM contexts hold a live `Arc<InstanceInner>` pointer.
        Some(unsafe { Instance::from_vmctx(caller_vmctx) })
    } else {
        None
    };
    let exn = exception.to_object(&mut |f| {
        if let Some(i) = &caller {
            i.inner.keep_alive(f)
        }
    });
    let exn = match exn {
        Ok(exn) => exn,
        Err(kind) => return Err(Trap::new(kind)),
    };
    match crate::throw::find_handler(exception.tag().identity()) {
        Some(r) => Ok((r, exn)),
        None => Err(trap),
    }
}

unsafe fn host_call_inner(
    ctx: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut ValRaw,
    len: usize,
) -> Result<(), Trap> {
    // SAFETY: `ctx` is a host context: `Arc::as_ptr` of a `HostFunc` kept alive by the caller.
    let host = unsafe { &*(ctx as *const HostFunc) };
    let ty = &host.ty;
    if len < ty.params.len().max(ty.results.len()) {
        return Err(Trap::host("host call value array too short"));
    }
    if traps::host_stack_exhausted(HOST_CALL_STACK) {
        return Err(Trap::new(kiln_environ::TrapKind::StackOverflow));
    }
    // SAFETY: the trampoline passes `len` slots.
    let values = unsafe { std::slice::from_raw_parts_mut(values, len) };
    // SAFETY: the caller is compiled code passing its own VM context (or a host context),
    // live for this call.
    let mut caller = unsafe { Caller::from_vmctx(caller_vmctx, &host.engine) };
    let f = match &host.f {
        HostImpl::Raw(f) => {
            // Numeric parameters and results only (`wrap`): nothing to convert or admit.
            return match std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut caller, values))) {
                Ok(r) => r,
                Err(_) => Err(Trap::host("host function panicked")),
            };
        }
        HostImpl::Dynamic(f) => f,
    };
    if crate::values::non_null_exnref(&ty.params, values.iter().map(|v| v.get_u128())) {
        return Err(Trap::host(
            "an exception reference cannot be passed to a host function",
        ));
    }
    let mut args = Vec::with_capacity(ty.params.len());
    for (t, raw) in ty.params.iter().zip(values.iter()) {
        // SAFETY: guest code passed values of the declared parameter types.
        args.push(unsafe { Val::from_raw(&host.engine, *t, raw.get_u128()) });
    }
    let mut results: Vec<Val> = ty.results.iter().map(|t| Val::default_for(*t)).collect();
    let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut caller, &args, &mut results)));
    match r {
        Ok(Ok(())) => {}
        Ok(Err(t)) => return Err(t),
        Err(_) => return Err(Trap::host("host function panicked")),
    }
    check_types("results", &results, &ty.results)
        .map_err(|e| Trap::host(format!("host function: {e}")))?;
    if let Some(i) = caller.instance() {
        admit_funcrefs(&results, &host.engine, &i.inner)
            .map_err(|e| Trap::host(format!("host function result: {e}")))?;
    }
    for (slot, v) in values.iter_mut().zip(&results) {
        let raw = v.to_raw(&mut |f| {
            if let Some(i) = caller.instance() {
                i.inner.keep_alive(f)
            }
        });
        *slot = ValRaw::from_u128(raw);
    }
    Ok(())
}

/// The `wasm_call` of host functions that no loaded module has a trampoline for: raises a trap
/// instead of jumping to address 0.
#[unsafe(naked)]
unsafe extern "C" fn missing_trampoline() {
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "mov rdi, [rbp]",
        "mov rsi, [rbp + 8]",
        "call {record}",
        "call {raise}",
        "ud2",
        record = sym traps::record_exit,
        raise = sym raise_missing_trampoline,
    )
}

unsafe extern "C" fn raise_missing_trampoline() {
    // SAFETY: reached only from guest code inside an activation; nothing to drop here.
    unsafe {
        traps::raise_user_trap(Trap::host(
            "host function called from wasm without a host trampoline for its type",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::TrapKind;
    use kiln_environ::ValType;

    #[test]
    fn host_functions_called_from_the_host() {
        let e = Engine::default();
        let ty = FuncType {
            params: vec![ValType::I32, ValType::I64],
            results: vec![ValType::I64],
        };
        let f = Func::new(&e, ty.clone(), |caller, args, results| {
            assert!(caller.instance().is_none());
            match (&args[0], &args[1]) {
                (Val::I32(a), Val::I64(b)) if *a >= 0 => {
                    results[0] = Val::I64(i64::from(*a) + b);
                    Ok(())
                }
                _ => Err(Trap::host("negative")),
            }
        });
        assert_eq!(f.ty(), ty);
        assert!(matches!(
            f.call(&[Val::I32(2), Val::I64(40)]).unwrap()[..],
            [Val::I64(42)]
        ));
        match f.call(&[Val::I32(-1), Val::I64(0)]) {
            Err(Error::Trap(t)) => {
                assert_eq!(t.kind, TrapKind::HostError);
                assert_eq!(t.message, "negative");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(f.call(&[Val::I32(1)]), Err(Error::Other(_))));
        assert!(matches!(
            f.call(&[Val::I64(1), Val::I64(1)]),
            Err(Error::Other(_))
        ));
        // Results of the wrong type are reported, not trusted.
        let bad = Func::new(&e, ty, |_, _, r| {
            r[0] = Val::I32(0);
            Ok(())
        });
        assert!(matches!(
            bad.call(&[Val::I32(0), Val::I64(0)]),
            Err(Error::Trap(_))
        ));
    }

    #[test]
    fn host_functions_through_the_array_call_entry() {
        // What a host trampoline in a compiled module does: call the context's array-call pointer.
        let e = Engine::default();
        let f = Func::new(
            &e,
            FuncType {
                params: vec![ValType::I32],
                results: vec![ValType::I32, ValType::ExternRef],
            },
            |_, args, results| {
                let Val::I32(x) = args[0] else { unreachable!() };
                results[0] = Val::I32(x + 1);
                results[1] = Val::ExternRef(Some(x as u64));
                Ok(())
            },
        );
        let r = f.raw();
        let mut values = [ValRaw::from_u64(41), ValRaw::default()];
        let mut body = || {
            // SAFETY: the host context and its array-call entry; two slots as the type needs.
            unsafe {
                let call: unsafe extern "C" fn(*mut u8, *mut u8, *mut ValRaw, usize) =
                    std::mem::transmute(*(r.vmctx.add(8) as *const usize));
                call(r.vmctx, std::ptr::null_mut(), values.as_mut_ptr(), 2)
            }
        };
        // SAFETY: the body holds only raw pointers.
        unsafe { traps::catch_traps(1 << 20, std::ptr::null(), &mut body).unwrap() };
        assert_eq!(values[0].get_u32(), 42);
        assert_eq!(values[1].get_u64(), 42, "externref 41 travels as 42");
        assert_eq!(r.array_call, host_call_entry as *const () as usize);
        // SAFETY: a host context.
        assert!(unsafe { vm::is_host_ctx(r.vmctx) });
    }
}
