//! Instantiation: VM context allocation, import checking, segment initialization, exports.
//!
//! [`Instance::new`] follows the artifact contract: it allocates the VM context with the layout
//! of `VMOffsets` (16-aligned, zeroed), fills the header, signature ids, imports, defined
//! memories/tables/globals and function references (and makes the instance's tags: new ones for
//! the tags it defines), then applies element and data segments in
//! order (spec semantics: a trap stops instantiation, earlier writes to imported memories and
//! tables stay visible) and runs the start function.

use crate::constexpr::{eval, ConstEnv};
use crate::engine::Engine;
use crate::error::{Error, Trap};
use crate::func::{Func, KeepAlive};
use crate::global::{Global, GlobalInner};
use crate::memory::{Memory, MemoryInner};
use crate::module::{Module, ModuleInner};
use crate::store::{StoreInner, StoreMember};
use crate::table::{Table, TableInner};
use crate::tag::Tag;
use crate::vm::{VMFuncRef, VMFunctionImport, VMStoreContext};
use crate::Extern;
use kiln_environ::vmoffsets::{FUNC_REF_SIZE, VMCTX_MAGIC};
use kiln_environ::{DataMode, ElemMode, ExportKind, ImportKind, TrapKind, VMOffsets, ValType};
use std::alloc::Layout;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};

/// The VM context allocation, freed on drop.
struct VmCtxAlloc {
    ptr: *mut u8,
    layout: Layout,
}

impl Drop for VmCtxAlloc {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout by `Instance::new`; nothing uses it any more.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// The state of one instance. Its address is stored in the VM context (`vmctx_instance`).
pub(crate) struct InstanceInner {
    pub(crate) module: Arc<ModuleInner>,
    pub(crate) offsets: VMOffsets,
    /// Imported functions, as given (kept alive).
    funcs: Vec<Func>,
    /// Every table, imports first (defined ones without an instance keep-alive).
    pub(crate) tables: Vec<Table>,
    /// Every memory, imports first.
    pub(crate) memories: Vec<Memory>,
    /// Every global, imports first.
    pub(crate) globals: Vec<Global>,
    /// Every tag, imports first (defined ones are new tags of this instance).
    pub(crate) tags: Vec<Tag>,
    /// Element segments' raw items; `None` once dropped.
    pub(crate) elems: Mutex<Vec<Option<Arc<[u64]>>>>,
    /// Whether each data segment was dropped.
    pub(crate) data_dropped: Vec<AtomicBool>,
    /// The store the instance was created in (the one it belongs to now is its root: see
    /// `store.rs`; this reference keeps the forwarding chain alive).
    store: Arc<StoreInner>,
    /// Functions handed to guest code by the host (their references must stay alive).
    keepalive: KeepAlive,
    vmctx: VmCtxAlloc,
}

/// Removes the instances `release` selects from a keep-alive list (of a table or global);
/// returns them, for the caller to drop after the list's lock is released.
pub(crate) fn release_kept(
    list: &Mutex<Vec<Arc<InstanceInner>>>,
    release: &dyn Fn(&Arc<InstanceInner>) -> bool,
) -> Vec<Arc<InstanceInner>> {
    let mut kept = list.lock().unwrap_or_else(|e| e.into_inner());
    let (gone, stay): (Vec<_>, Vec<_>) = kept.drain(..).partition(|i| release(i));
    *kept = stay;
    gone
}

impl Drop for InstanceInner {
    fn drop(&mut self) {
        // Guest code may have stored this instance's function references (pointers into its VM
        // context) into the funcref tables and globals it imported, which can outlive it once
        // their keep-alive of it was released: they must not point at freed, or reused, memory.
        let c = self.module.metadata.import_counts();
        let start = self.vmctx.ptr as usize;
        let end = start + self.vmctx.layout.size();
        for t in self.tables.iter().take(c.tables as usize) {
            if t.inner.element() == ValType::FuncRef {
                t.inner.forget_refs_into(start, end);
            }
        }
        for g in self.globals.iter().take(c.globals as usize) {
            g.inner.forget_ref_into(start, end);
        }
    }
}

// SAFETY: the VM context is plain memory owned by this value; mutable runtime state is behind
// mutexes or atomics; guest accesses are racy like any wasm state.
unsafe impl Send for InstanceInner {}
// SAFETY: as above.
unsafe impl Sync for InstanceInner {}

/// An instance of a module. Cloning gives another handle.
#[derive(Clone)]
pub struct Instance {
    pub(crate) inner: Arc<InstanceInner>,
}

/// What a linker applies to the store of an instance it creates.
#[derive(Clone, Default)]
pub(crate) struct InstanceOptions {
    /// The store's resource limiter.
    pub(crate) limiter: Option<Arc<dyn crate::ResourceLimiter>>,
    /// The store's epoch deadline, in ticks from now.
    pub(crate) epoch_deadline: Option<u64>,
}

impl StoreMember for InstanceInner {
    fn store_slot(&self) -> &AtomicPtr<VMStoreContext> {
        InstanceInner::store_slot(self)
    }
}

/// The store a new instance joins: the store of everything it imports that guest code can
/// reach (functions of other instances, tables, function-reference globals), joined into one,
/// or a new store. Every import must come from `engine`.
fn import_store(
    engine: &Engine,
    funcs: &[Func],
    tables: &[Table],
    globals: &[Global],
) -> Result<Arc<StoreInner>, Error> {
    let other = |what: &str| {
        Error::Link(format!(
            "{what} import belongs to another engine (objects of two engines cannot be linked)"
        ))
    };
    let mut store = None;
    for f in funcs {
        if !Engine::same(f.engine(), engine) {
            return Err(other("a function"));
        }
        store = crate::store::join_opt(store, f.store())?;
    }
    for t in tables {
        if !Engine::same(&t.inner.engine, engine) {
            return Err(other("a table"));
        }
        store = crate::store::join_opt(store, t.inner.store.get())?;
    }
    for g in globals {
        if !Engine::same(&g.inner.engine, engine) {
            return Err(other("a global"));
        }
        store = crate::store::join_opt(store, g.inner.store.get())?;
    }
    let store = store.unwrap_or_else(|| StoreInner::new(engine));
    // Imported tables and globals without a store yet join this one.
    for t in tables {
        t.inner.store.join(&store)?;
    }
    for g in globals {
        g.inner.store.join(&store)?;
    }
    Ok(store.root())
}

unsafe fn write<T>(vmctx: *mut u8, off: u32, v: T) {
    // SAFETY: caller passes an offset inside the VM context with proper alignment for T.
    unsafe { vmctx.add(off as usize).cast::<T>().write(v) }
}

fn limits_match(amin: u64, amax: Option<u64>, emin: u64, emax: Option<u64>) -> bool {
    amin >= emin
        && match emax {
            None => true,
            Some(em) => amax.is_some_and(|am| am <= em),
        }
}

struct Env<'a> {
    globals: &'a [Global],
    vmctx: *mut u8,
    offsets: &'a VMOffsets,
}

impl ConstEnv for Env<'_> {
    fn global(&self, index: u32) -> Option<u128> {
        Some(self.globals.get(index as usize)?.inner.get_raw())
    }
    fn func_ref(&self, index: u32) -> Option<u64> {
        if index >= self.offsets.num_funcs {
            return None;
        }
        // SAFETY: an in-range function reference slot of the VM context.
        Some(unsafe { self.vmctx.add(self.offsets.vmctx_func_ref(index) as usize) } as u64)
    }
}

fn check_import(m: &ModuleInner, imp: &kiln_environ::Import, ext: &Extern) -> Result<(), Error> {
    let md = &m.metadata;
    // Function and tag types of wasm are the same type when their engine-wide ids (signature
    // and canonical identity) are equal. The host's functions and tags have plain signatures:
    // they match by signature (every function reference has one representation, and kiln has
    // no instruction that relies on a reference's static type without checking it).
    let same_type = |ti: u32, ty: &kiln_environ::FuncType, id: u32, host: bool| {
        md.types.get(ti as usize) == Some(ty) && (host || m.type_ids.get(ti as usize) == Some(&id))
    };
    let ok = match (&imp.kind, ext) {
        (ImportKind::Func(ti), Extern::Func(f)) => {
            same_type(*ti, &f.ty(), f.raw().type_id, f.is_host())
        }
        (ImportKind::Tag(ti), Extern::Tag(t)) => {
            Engine::same(&t.inner.engine, m.engine())
                && same_type(*ti, &t.inner.ty, t.inner.type_id, t.inner.host)
        }
        (ImportKind::Table(tt), Extern::Table(t)) => {
            let at = t.ty();
            at.element == tt.element && limits_match(at.min, at.max, tt.min, tt.max)
        }
        (ImportKind::Memory(mt), Extern::Memory(m)) => {
            let am = m.ty();
            am.memory64 == mt.memory64
                && am.shared == mt.shared
                && am.page_size_log2 == mt.page_size_log2
                && limits_match(am.min, am.max, mt.min, mt.max)
        }
        (ImportKind::Global(gt), Extern::Global(g)) => g.ty() == *gt,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Link(format!(
            "incompatible import type for `{}::{}`",
            imp.module, imp.name
        )))
    }
}

impl Instance {
    /// Instantiates with imports given in the module's import order. Runs segment
    /// initialization and the start function. Import type mismatch → `Error::Link`; a trap during
    /// instantiation → `Error::Trap` (with everything done before the trap kept, as the spec says).
    pub fn new(module: &Module, imports: &[Extern]) -> Result<Instance, Error> {
        Instance::new_with(module, imports, &InstanceOptions::default())
    }

    /// [`Instance::new`] with a limiter and epoch deadline applied to the instance's store
    /// before anything runs (segments, start function).
    pub(crate) fn new_with(
        module: &Module,
        imports: &[Extern],
        options: &InstanceOptions,
    ) -> Result<Instance, Error> {
        Instance::new_checked(module, imports, options, true)
    }

    /// Checks `imports` (in the module's import order) against `module`'s import types.
    pub(crate) fn check_imports(module: &Module, imports: &[Extern]) -> Result<(), Error> {
        let md = &module.inner.metadata;
        if imports.len() != md.imports.len() {
            return Err(Error::Link(format!(
                "expected {} imports, got {}",
                md.imports.len(),
                imports.len()
            )));
        }
        for (imp, ext) in md.imports.iter().zip(imports) {
            check_import(&module.inner, imp, ext)?;
        }
        Ok(())
    }

    /// [`Instance::new_with`]; `check` false skips the import type checks (an `InstancePre`
    /// did them once: an import's type only ever changes towards matching, as a memory or
    /// table grows).
    pub(crate) fn new_checked(
        module: &Module,
        imports: &[Extern],
        options: &InstanceOptions,
        check: bool,
    ) -> Result<Instance, Error> {
        let m = &module.inner;
        let md = &m.metadata;
        let engine = m.engine();
        if imports.len() != md.imports.len() {
            return Err(Error::Link(format!(
                "expected {} imports, got {}",
                md.imports.len(),
                imports.len()
            )));
        }
        let (mut funcs, mut tables, mut memories, mut globals) = (vec![], vec![], vec![], vec![]);
        let mut tags = Vec::new();
        for (imp, ext) in md.imports.iter().zip(imports) {
            if check {
                check_import(m, imp, ext)?;
            }
            match ext {
                Extern::Func(f) => funcs.push(f.clone()),
                Extern::Table(t) => tables.push(t.clone()),
                Extern::Memory(x) => memories.push(x.clone()),
                Extern::Global(g) => globals.push(g.clone()),
                Extern::Tag(t) => tags.push(t.clone()),
            }
        }
        // Nothing imported that guest code can reach: the store is new and nobody else's.
        let fresh = funcs.is_empty() && tables.is_empty() && globals.is_empty();
        let store = import_store(engine, &funcs, &tables, &globals)?;
        if let Some(l) = &options.limiter {
            store.set_limiter(Some(l.clone()));
        }
        if let Some(ticks) = options.epoch_deadline {
            store.set_epoch_deadline(engine.epoch().saturating_add(ticks));
        }
        store.add_instance()?;
        if let Some(l) = store.limiter() {
            for ty in md.memories.iter().skip(memories.len()) {
                let bytes = ty.min.saturating_mul(crate::memory::WASM_PAGE_SIZE);
                let max = ty
                    .max
                    .map(|m| m.saturating_mul(crate::memory::WASM_PAGE_SIZE));
                if !l.memory_growing(0, bytes, max) {
                    return Err(Error::Other(format!(
                        "a memory of {bytes} bytes exceeds the store's limits"
                    )));
                }
            }
            for ty in md.tables.iter().skip(tables.len()) {
                if !l.table_growing(0, ty.min, ty.max) {
                    return Err(Error::Other(format!(
                        "a table of {} elements exceeds the store's limits",
                        ty.min
                    )));
                }
            }
        }
        for ti in md.tags.iter().skip(tags.len()) {
            let ty = md.types[*ti as usize].clone();
            tags.push(Tag::with_type_id(engine, ty, m.type_ids[*ti as usize]));
        }

        let offsets = md.vmoffsets();
        let layout = Layout::from_size_align(offsets.size() as usize, 16)
            .map_err(|_| Error::Other("VM context too large".into()))?;
        // SAFETY: the layout has a nonzero size (the header alone is 64 bytes).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(Error::Other("cannot allocate the VM context".into()));
        }
        let alloc = VmCtxAlloc { ptr, layout };
        let vmctx = alloc.ptr;

        // SAFETY: (whole block) every offset comes from `offsets`, the layout of this
        // allocation, and each written type matches the contract's field at that offset.
        unsafe {
            write(
                vmctx,
                VMOffsets::vmctx_builtins(),
                crate::builtins::table_ptr(),
            );
            write(vmctx, VMOffsets::vmctx_store_context(), store.context());
            write(vmctx, VMOffsets::vmctx_epoch_ptr(), engine.epoch_ptr());
            write(vmctx, VMOffsets::vmctx_magic(), VMCTX_MAGIC);
            for (i, id) in m.type_ids.iter().enumerate() {
                write(vmctx, offsets.vmctx_type_id(i as u32), *id);
            }
            let text = m.text as usize;
            // Imported functions and their references.
            for (i, f) in funcs.iter_mut().enumerate() {
                let info = &md.functions[i];
                let mut r = f.raw();
                if f.is_host() {
                    if let Some(off) = info.host_trampoline {
                        *f = f.host_with_trampoline(text + off as usize, m.clone());
                        r = f.raw();
                    } else if r.wasm_call == 0 {
                        r = *f.guest_funcref();
                    }
                }
                write(
                    vmctx,
                    offsets.vmctx_imported_function(i as u32),
                    VMFunctionImport {
                        wasm_call: r.wasm_call,
                        vmctx: r.vmctx,
                    },
                );
                write(vmctx, offsets.vmctx_func_ref(i as u32), r);
            }
            for (i, t) in tables.iter().enumerate() {
                write(
                    vmctx,
                    offsets.vmctx_imported_table(i as u32),
                    t.inner.definition(),
                );
            }
            for (i, x) in memories.iter().enumerate() {
                write(
                    vmctx,
                    offsets.vmctx_imported_memory(i as u32),
                    x.inner.definition(),
                );
            }
            for (i, g) in globals.iter().enumerate() {
                write(
                    vmctx,
                    offsets.vmctx_imported_global(i as u32),
                    g.inner.definition(),
                );
            }
            // Defined functions' references.
            for (i, info) in md.functions.iter().enumerate().skip(funcs.len()) {
                let Some((body, _)) = info.body else { continue };
                let r = VMFuncRef {
                    wasm_call: text + body as usize,
                    array_call: info.array_trampoline.map_or(0, |o| text + o as usize),
                    vmctx,
                    type_id: m.type_ids[info.type_index as usize],
                };
                write(vmctx, offsets.vmctx_func_ref(i as u32), r);
            }
        }

        // Defined memories (with their copy-on-write images).
        let nmem = memories.len();
        for (k, ty) in md.memories.iter().enumerate().skip(nmem) {
            let d = k - nmem;
            // SAFETY: the definition slot lives in the VM context, which outlives the memory's
            // use by this instance (both are owned by `InstanceInner`).
            let def = unsafe { vmctx.add(offsets.vmctx_defined_memory(d as u32) as usize) };
            // SAFETY: as above.
            let inner =
                unsafe { MemoryInner::new(engine, ty, Some(def.cast()), Some((m, k as u32)))? };
            memories.push(Memory {
                inner: Arc::new(inner),
                _instance: None,
            });
        }
        let ntab = tables.len();
        for (k, ty) in md.tables.iter().enumerate().skip(ntab) {
            // SAFETY: as for memories.
            let def = unsafe { vmctx.add(offsets.vmctx_defined_table((k - ntab) as u32) as usize) };
            // SAFETY: as above.
            let inner = unsafe { TableInner::new(engine, ty, 0, Some(def.cast()))? };
            tables.push(Table {
                inner: Arc::new(inner),
                _instance: None,
            });
        }
        let nglob = globals.len();
        for (k, ty) in md.globals.iter().enumerate().skip(nglob) {
            let env = Env {
                globals: &globals,
                vmctx,
                offsets: &offsets,
            };
            let raw = eval(&md.global_inits[k - nglob], &env)?;
            // SAFETY: as for memories.
            let def =
                unsafe { vmctx.add(offsets.vmctx_defined_global((k - nglob) as u32) as usize) };
            // SAFETY: as above.
            let inner = unsafe { GlobalInner::new(engine, ty, raw, Some(def.cast())) };
            globals.push(Global {
                inner: Arc::new(inner),
                _instance: None,
            });
        }

        for t in &tables[ntab..] {
            t.inner.store.join(&store)?;
        }
        for g in &globals[nglob..] {
            g.inner.store.join(&store)?;
        }
        let inner = Arc::new(InstanceInner {
            module: m.clone(),
            offsets: offsets.clone(),
            funcs,
            tables,
            memories,
            globals,
            tags,
            elems: Mutex::new(vec![None; md.elems.len()]),
            data_dropped: md.data.iter().map(|_| AtomicBool::new(false)).collect(),
            store: store.clone(),
            keepalive: KeepAlive::default(),
            vmctx: alloc,
        });
        let member = inner.clone() as Arc<dyn StoreMember>;
        if fresh {
            store.adopt_fresh(&member);
        } else {
            store.adopt(&member);
        }
        // SAFETY: the instance slot of the header; the Arc outlives the VM context it owns.
        unsafe { write(vmctx, VMOffsets::vmctx_instance(), Arc::as_ptr(&inner)) };
        let instance = Instance { inner };
        instance.register_with_imports();
        instance.initialize()?;
        Ok(instance)
    }

    /// Imported reference-typed tables and mutable globals may receive this instance's function
    /// references from guest code: they keep the instance alive.
    fn register_with_imports(&self) {
        let c = self.inner.module.metadata.import_counts();
        for t in &self.inner.tables[..c.tables as usize] {
            if t.inner.element() == ValType::FuncRef {
                t.inner.keep_instance(self.inner.clone());
            }
        }
        for g in &self.inner.globals[..c.globals as usize] {
            if g.inner.ty().mutable && g.inner.ty().ty == ValType::FuncRef {
                g.inner.keep_instance(self.inner.clone());
            }
        }
    }

    /// Element segments, data segments and the start function, in spec order.
    fn initialize(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let md = &inner.module.metadata;
        let env = Env {
            globals: &inner.globals,
            vmctx: inner.vmctx.ptr,
            offsets: &inner.offsets,
        };
        for (i, seg) in md.elems.iter().enumerate() {
            let items: Vec<u64> = match inner.module.elem_funcs.get(i).and_then(Option::as_ref) {
                // Function references computed from indices checked at load.
                Some(funcs) => funcs
                    .iter()
                    .map(|&f| match f {
                        u32::MAX => 0,
                        f => inner.vmctx.ptr as u64 + u64::from(inner.offsets.vmctx_func_ref(f)),
                    })
                    .collect(),
                None => seg
                    .items
                    .iter()
                    .map(|e| eval(e, &env).map(|v| v as u64))
                    .collect::<Result<_, _>>()?,
            };
            match &seg.mode {
                ElemMode::Active { table, offset } => {
                    let off = eval(offset, &env)? as u64;
                    let t = inner
                        .tables
                        .get(*table as usize)
                        .ok_or_else(|| Error::Other("element segment table index".into()))?;
                    t.inner
                        .write_raw(off, &items)
                        .map_err(|k| Error::Trap(Trap::new(k)))?;
                }
                ElemMode::Passive => {
                    inner.elems.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(items.into())
                }
                ElemMode::Declared => {}
            }
        }
        for (i, seg) in md.data.iter().enumerate() {
            let DataMode::Active { memory, offset } = &seg.mode else {
                continue;
            };
            inner.data_dropped[i].store(true, Ordering::Relaxed);
            if seg.in_image {
                continue;
            }
            let off = eval(offset, &env)? as u64;
            let mem = inner
                .memories
                .get(*memory as usize)
                .ok_or_else(|| Error::Other("data segment memory index".into()))?;
            let dst = mem
                .inner
                .range(off, seg.len)
                .ok_or(Error::Trap(Trap::new(TrapKind::MemoryOutOfBounds)))?;
            // SAFETY: the source lies in the data blob (checked at load), the destination in
            // accessible memory (checked by `range`).
            unsafe {
                std::ptr::copy(
                    inner.module.data.add(seg.data_offset as usize),
                    dst,
                    seg.len as usize,
                )
            };
        }
        if let Some(s) = md.start {
            let f = self
                .func(s)
                .ok_or_else(|| Error::Other("start function index".into()))?;
            f.call(&[])?;
        }
        Ok(())
    }

    /// Rebuilds a handle from a VM context pointer.
    ///
    /// # Safety
    /// `vmctx` must be the VM context of a live instance.
    pub(crate) unsafe fn from_vmctx(vmctx: *mut u8) -> Instance {
        // SAFETY: caller contract; the header holds `Arc::as_ptr` of the instance.
        let inner = unsafe {
            let p = vmctx
                .add(VMOffsets::vmctx_instance() as usize)
                .cast::<*const InstanceInner>()
                .read();
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        };
        Instance { inner }
    }

    /// Function `index` (imports first).
    pub fn func(&self, index: u32) -> Option<Func> {
        if let Some(f) = self.inner.funcs.get(index as usize) {
            return Some(f.clone());
        }
        if index >= self.inner.offsets.num_funcs {
            return None;
        }
        let p = self.inner.func_ref_ptr(index);
        Some(Func::for_instance(self.inner.clone(), p))
    }

    /// Memory `index` (imports first).
    pub fn memory(&self, index: u32) -> Option<Memory> {
        let mut m = self.inner.memories.get(index as usize)?.clone();
        if m._instance.is_none() && index >= self.inner.offsets.imports.memories {
            m._instance = Some(self.inner.clone());
        }
        Some(m)
    }

    /// Table `index` (imports first).
    pub fn table(&self, index: u32) -> Option<Table> {
        let mut t = self.inner.tables.get(index as usize)?.clone();
        if t._instance.is_none() && index >= self.inner.offsets.imports.tables {
            t._instance = Some(self.inner.clone());
        }
        Some(t)
    }

    /// Global `index` (imports first).
    pub fn global(&self, index: u32) -> Option<Global> {
        let mut g = self.inner.globals.get(index as usize)?.clone();
        if g._instance.is_none() && index >= self.inner.offsets.imports.globals {
            g._instance = Some(self.inner.clone());
        }
        Some(g)
    }

    /// Tag `index` (imports first).
    pub fn tag(&self, index: u32) -> Option<Tag> {
        self.inner.tags.get(index as usize).cloned()
    }

    fn export(&self, kind: ExportKind, index: u32) -> Option<Extern> {
        Some(match kind {
            ExportKind::Func => Extern::Func(self.func(index)?),
            ExportKind::Table => Extern::Table(self.table(index)?),
            ExportKind::Memory => Extern::Memory(self.memory(index)?),
            ExportKind::Global => Extern::Global(self.global(index)?),
            ExportKind::Tag => Extern::Tag(self.tag(index)?),
        })
    }

    /// The export named `name`.
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        let e = self
            .inner
            .module
            .metadata
            .exports
            .iter()
            .find(|e| e.name == name)?;
        self.export(e.kind, e.index)
    }

    /// The function export named `name`.
    pub fn get_func(&self, name: &str) -> Option<Func> {
        match self.get_export(name)? {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    /// Every export, in order.
    pub fn exports(&self) -> Vec<(String, Extern)> {
        let md = &self.inner.module.metadata;
        md.exports
            .iter()
            .filter_map(|e| Some((e.name.clone(), self.export(e.kind, e.index)?)))
            .collect()
    }

    /// Sets the epoch deadline of the instance's store (every instance linked with this one)
    /// to `engine.epoch() + ticks`.
    pub fn set_epoch_deadline(&self, ticks: u64) {
        let deadline = self.inner.module.engine().epoch().saturating_add(ticks);
        self.inner.store().set_epoch_deadline(deadline);
    }

    /// Installs `limiter` as the resource limiter of the instance's store.
    pub fn set_limiter(&self, limiter: Option<Arc<dyn crate::ResourceLimiter>>) {
        self.inner.store().set_limiter(limiter);
    }

    /// Whether `a` and `b` belong to the same store (one thread at a time runs a store).
    pub fn same_store(a: &Instance, b: &Instance) -> bool {
        Arc::ptr_eq(&a.inner.store(), &b.inner.store())
    }

    /// The module this is an instance of.
    pub fn module(&self) -> Module {
        Module {
            inner: self.inner.module.clone(),
        }
    }

    /// The VM context (for debugging and tests).
    pub fn vmctx_ptr(&self) -> *mut u8 {
        self.inner.vmctx.ptr
    }
}

impl InstanceInner {
    /// Address of function `index`'s reference in the VM context.
    pub(crate) fn func_ref_ptr(&self, index: u32) -> *const VMFuncRef {
        // SAFETY: callers pass `index < num_funcs`; the slot lies in the VM context.
        unsafe {
            self.vmctx
                .ptr
                .add(self.offsets.vmctx_func_ref(index) as usize)
        }
        .cast()
    }

    /// Whether `p` points at one of this instance's function reference slots.
    pub(crate) fn owns_funcref(&self, p: *const VMFuncRef) -> bool {
        let start = self.vmctx.ptr as usize + self.offsets.size() as usize
            - (FUNC_REF_SIZE * self.offsets.num_funcs) as usize;
        let end = self.vmctx.ptr as usize + self.offsets.size() as usize;
        let p = p as usize;
        p >= start && p < end && (p - start).is_multiple_of(FUNC_REF_SIZE as usize)
    }

    /// The VM contexts an entry into this instance sets the stack limit of.
    pub(crate) fn store_slot(&self) -> &AtomicPtr<VMStoreContext> {
        // SAFETY: the store slot of our VM context: pointer-sized and aligned, accessed only
        // atomically by the runtime (compiled code reads it while the store does not move).
        unsafe {
            AtomicPtr::from_ptr(
                self.vmctx
                    .ptr
                    .add(VMOffsets::vmctx_store_context() as usize)
                    .cast(),
            )
        }
    }

    /// The store the instance belongs to now.
    pub(crate) fn store(&self) -> Arc<StoreInner> {
        self.store.root()
    }

    /// Keeps `f` alive as long as this instance (its reference was handed to guest code).
    pub(crate) fn keep_alive(&self, f: &Func) {
        if f.instance().is_some_and(|i| std::ptr::eq(&**i, self)) {
            return;
        }
        self.keepalive.keep(f);
    }

    /// The bytes of data segment `index`, or None once dropped.
    pub(crate) fn data_segment(&self, index: u32) -> Option<&[u8]> {
        let seg = self.module.metadata.data.get(index as usize)?;
        if self.data_dropped[index as usize].load(Ordering::Relaxed) {
            return Some(&[]);
        }
        // SAFETY: the segment lies in the data blob (checked at load), alive with the module.
        Some(unsafe {
            std::slice::from_raw_parts(
                self.module.data.add(seg.data_offset as usize),
                seg.len as usize,
            )
        })
    }
}
