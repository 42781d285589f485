//! The component instantiation plan: what the front end computes statically and the runtime
//! executes once per instantiation.
//!
//! A component is instantiated once as a whole, so the compiler unrolls nested components,
//! instances, aliases, imports and exports at compile time into a flat, ordered list of
//! [`Initializer`]s over a few flat index spaces:
//!
//! | index | counts | created by |
//! |---|---|---|
//! | [`StaticModuleIndex`] | [`ComponentMetadata::modules`] | the compiler (each distinct core module once) |
//! | [`RuntimeInstanceIndex`] | [`ComponentMetadata::num_runtime_instances`] | each [`Initializer::InstantiateModule`], in order |
//! | [`ComponentInstanceIndex`] | [`ComponentMetadata::num_component_instances`] | each (nested) component instantiation; 0 is the root |
//! | [`LoweredIndex`] | [`ComponentMetadata::num_lowered`] | each [`Initializer::Lower`] |
//! | [`LiftedIndex`] | [`ComponentMetadata::num_lifted`] | each [`Initializer::Lift`] |
//! | [`RuntimeMemoryIndex`] / [`ReallocIndex`] / [`PostReturnIndex`] | `num_memories` / ... | the `Extract*` initializers |
//! | [`super::ResourceIndex`] | [`ComponentMetadata::resources`] | imports and [`Initializer::DefineResource`] |
//! | [`ImportIndex`] | [`ComponentMetadata::imports`] | the root component's imports |
//!
//! Every index an initializer refers to is defined by an earlier initializer (checked by
//! [`ComponentMetadata::check`], which the runtime runs before instantiating).

use super::types::{ComponentFuncType, InterfaceType, ResourceIndex};
use crate::BuildInfo;
use serde::{Deserialize, Serialize};

/// Index of a distinct core module in [`ComponentMetadata::modules`].
pub type StaticModuleIndex = u32;
/// Index of a core module instance, in the order the runtime creates them.
pub type RuntimeInstanceIndex = u32;
/// Index of a component instance (0 is the root component; nested instantiations follow).
pub type ComponentInstanceIndex = u32;
/// Index of a core function made by `canon lower`.
pub type LoweredIndex = u32;
/// Index of a component function made by `canon lift`.
pub type LiftedIndex = u32;
/// Index of a linear memory named by some canonical options.
pub type RuntimeMemoryIndex = u32;
/// Index of a `realloc` function named by some canonical options.
pub type ReallocIndex = u32;
/// Index of a `post-return` function named by some canonical options.
pub type PostReturnIndex = u32;
/// Index of an import in [`ComponentMetadata::imports`].
pub type ImportIndex = u32;

/// An export of a core instance: `(instance, name)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CoreExport {
    /// The core instance.
    pub instance: RuntimeInstanceIndex,
    /// The export name.
    pub name: String,
}

/// A canonical built-in that becomes a core function of the runtime's making.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IntrinsicKind {
    /// `canon resource.new`: `(rep: i32) -> i32` (a new own handle).
    ResourceNew,
    /// `canon resource.rep`: `(handle: i32) -> i32`.
    ResourceRep,
    /// `canon resource.drop`: `(handle: i32) -> ()`.
    ResourceDrop,
}

/// A core definition: anything a core module instance can import.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CoreDef {
    /// An export (function, table, memory, global or tag) of an earlier core instance.
    Export(CoreExport),
    /// A core function made by `canon lower` (defined by an earlier [`Initializer::Lower`]).
    Lowered(LoweredIndex),
    /// A resource intrinsic, for the handle table of component instance `instance`.
    Intrinsic {
        /// Which intrinsic.
        kind: IntrinsicKind,
        /// The resource type it works on.
        resource: ResourceIndex,
        /// The component instance whose handle table it uses.
        instance: ComponentInstanceIndex,
    },
    /// A canonical built-in of component-model async or threads (`context.get`,
    /// `backpressure.inc`, `waitable-set.new`, `stream.read`, ...), for component instance
    /// `instance`, with the core function type the validator gave it.
    Builtin {
        /// Which built-in.
        builtin: CanonBuiltin,
        /// The component instance it acts for.
        instance: ComponentInstanceIndex,
        /// Its core function type.
        ty: crate::FuncType,
    },
}

/// A canonical built-in of component-model async or threads, with its immediates.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CanonBuiltin {
    /// `context.get i32 N`.
    ContextGet(u32),
    /// `context.set i32 N`.
    ContextSet(u32),
    /// `backpressure.inc`.
    BackpressureInc,
    /// `backpressure.dec`.
    BackpressureDec,
    /// `thread.yield` (`cancellable`).
    ThreadYield(bool),
    /// `task.cancel`.
    TaskCancel,
    /// `subtask.drop`.
    SubtaskDrop,
    /// `subtask.cancel` (`async`).
    SubtaskCancel {
        /// Whether the built-in may return `BLOCKED` instead of waiting.
        async_: bool,
    },
    /// `waitable-set.new`.
    WaitableSetNew,
    /// `waitable-set.wait` (`cancellable`, the memory the event is written to).
    WaitableSetWait {
        /// Whether a pending cancellation is delivered.
        cancellable: bool,
        /// Where the event's payload is written.
        memory: RuntimeMemoryIndex,
    },
    /// `waitable-set.poll` (`cancellable`, the memory the event is written to).
    WaitableSetPoll {
        /// Whether a pending cancellation is delivered.
        cancellable: bool,
        /// Where the event's payload is written.
        memory: RuntimeMemoryIndex,
    },
    /// `waitable-set.drop`.
    WaitableSetDrop,
    /// `waitable.join`.
    WaitableJoin,
    /// `stream.new T` / `future.new T`.
    New(AsyncValueType),
    /// `stream.read`/`stream.write`/`future.read`/`future.write` of a type, with options.
    Copy {
        /// The stream or future type.
        ty: AsyncValueType,
        /// `write` (true) or `read`.
        write: bool,
        /// The options (memory, realloc, string encoding, `async`).
        options: CanonicalOptions,
    },
    /// `{stream,future}.cancel-{read,write}`.
    CancelCopy {
        /// The stream or future type.
        ty: AsyncValueType,
        /// `cancel-write` (true) or `cancel-read`.
        write: bool,
        /// Whether the built-in may return `BLOCKED` instead of waiting.
        async_: bool,
    },
    /// `{stream,future}.drop-{readable,writable}`.
    DropEnd {
        /// The stream or future type.
        ty: AsyncValueType,
        /// `drop-writable` (true) or `drop-readable`.
        writable: bool,
    },
    /// `error-context.new` with its options.
    ErrorContextNew(CanonicalOptions),
    /// `error-context.debug-message` with its options.
    ErrorContextDebugMessage(CanonicalOptions),
    /// `error-context.drop`.
    ErrorContextDrop,
    /// `thread.index`.
    ThreadIndex,
    /// `thread.new-indirect` with the table its start functions come from.
    ThreadNewIndirect {
        /// The `funcref` table.
        table: Box<CoreDef>,
    },
    /// `thread.resume-later`.
    ThreadResumeLater,
    /// `thread.suspend` (`cancellable`).
    ThreadSuspend(bool),
    /// `thread.{yield,suspend}-then-{resume,promote}`.
    ThreadSwitch {
        /// `yield-then-*` (the running thread stays ready) or `suspend-then-*`.
        yield_: bool,
        /// `*-then-promote` (only a ready thread is switched to) or `*-then-resume`.
        promote: bool,
        /// Whether a pending cancellation is delivered.
        cancellable: bool,
    },
    /// Every other built-in, by its canonical name.
    Other(String),
}

/// A `stream<T>` or `future<T>` type as the canonical built-ins see it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AsyncValueType {
    /// `future` (true) or `stream`.
    pub future: bool,
    /// The element type (`None`: `stream`/`future` without one).
    pub elem: Option<InterfaceType>,
}

/// The type key (`AsyncValueType::key`'s space) the glue passes for an `error-context` value.
pub const ERROR_CONTEXT_KEY: u32 = u32::MAX;

impl AsyncValueType {
    /// A 32-bit key of the type, equal for equal types (bit 31: a future), by which the glue
    /// and the runtime check that a transferred end is of the type the receiver expects.
    pub fn key(&self) -> u32 {
        // FNV-1a over the element type's structure (its `Debug` form is stable and exact).
        let mut h: u32 = 0x811c_9dc5;
        for b in format!("{:?}", self.elem).bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        // `u32::MAX` is `ERROR_CONTEXT_KEY`.
        ((h & 0x7fff_ffff) | (u32::from(self.future) << 31)).min(ERROR_CONTEXT_KEY - 1)
    }
}

impl CanonBuiltin {
    /// The built-in's name in the text format.
    pub fn name(&self) -> &str {
        let kind = |t: &AsyncValueType| t.future;
        match self {
            CanonBuiltin::ContextGet(_) => "context.get",
            CanonBuiltin::ContextSet(_) => "context.set",
            CanonBuiltin::BackpressureInc => "backpressure.inc",
            CanonBuiltin::BackpressureDec => "backpressure.dec",
            CanonBuiltin::ThreadYield(_) => "thread.yield",
            CanonBuiltin::TaskCancel => "task.cancel",
            CanonBuiltin::SubtaskDrop => "subtask.drop",
            CanonBuiltin::SubtaskCancel { .. } => "subtask.cancel",
            CanonBuiltin::WaitableSetNew => "waitable-set.new",
            CanonBuiltin::WaitableSetWait { .. } => "waitable-set.wait",
            CanonBuiltin::WaitableSetPoll { .. } => "waitable-set.poll",
            CanonBuiltin::WaitableSetDrop => "waitable-set.drop",
            CanonBuiltin::WaitableJoin => "waitable.join",
            CanonBuiltin::New(t) if kind(t) => "future.new",
            CanonBuiltin::New(_) => "stream.new",
            CanonBuiltin::Copy { ty, write, .. } => match (kind(ty), write) {
                (true, true) => "future.write",
                (true, false) => "future.read",
                (false, true) => "stream.write",
                (false, false) => "stream.read",
            },
            CanonBuiltin::CancelCopy { ty, write, .. } => match (kind(ty), write) {
                (true, true) => "future.cancel-write",
                (true, false) => "future.cancel-read",
                (false, true) => "stream.cancel-write",
                (false, false) => "stream.cancel-read",
            },
            CanonBuiltin::DropEnd { ty, writable } => match (kind(ty), writable) {
                (true, true) => "future.drop-writable",
                (true, false) => "future.drop-readable",
                (false, true) => "stream.drop-writable",
                (false, false) => "stream.drop-readable",
            },
            CanonBuiltin::ErrorContextNew(_) => "error-context.new",
            CanonBuiltin::ErrorContextDebugMessage(_) => "error-context.debug-message",
            CanonBuiltin::ErrorContextDrop => "error-context.drop",
            CanonBuiltin::ThreadIndex => "thread.index",
            CanonBuiltin::ThreadNewIndirect { .. } => "thread.new-indirect",
            CanonBuiltin::ThreadResumeLater => "thread.resume-later",
            CanonBuiltin::ThreadSuspend(_) => "thread.suspend",
            CanonBuiltin::ThreadSwitch {
                yield_, promote, ..
            } => match (yield_, promote) {
                (true, false) => "thread.yield-then-resume",
                (false, false) => "thread.suspend-then-resume",
                (true, true) => "thread.yield-then-promote",
                (false, true) => "thread.suspend-then-promote",
            },
            CanonBuiltin::Other(name) => name,
        }
    }

    /// Whether the built-in starts with CanonicalABI.md's `trap_if(not inst.may_leave)`.
    pub fn checks_may_leave(&self) -> bool {
        !matches!(
            self,
            CanonBuiltin::ContextGet(_)
                | CanonBuiltin::ContextSet(_)
                | CanonBuiltin::BackpressureInc
                | CanonBuiltin::BackpressureDec
        )
    }
}

/// The string encoding of a set of canonical options.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StringEncoding {
    /// `string-encoding=utf8` (the default).
    #[default]
    Utf8,
    /// `string-encoding=utf16`.
    Utf16,
    /// `string-encoding=latin1+utf16`.
    Latin1Utf16,
}

/// The canonical options of a `canon lift` or `canon lower`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CanonicalOptions {
    /// The component instance the function belongs to (its `may_enter`/`may_leave` flags and
    /// handle table).
    pub instance: ComponentInstanceIndex,
    /// String encoding of the guest side.
    pub string_encoding: StringEncoding,
    /// `(memory ...)`: the guest memory values are read from and written to.
    pub memory: Option<RuntimeMemoryIndex>,
    /// `(realloc ...)`: `(old_ptr: i32, old_size: i32, align: i32, new_size: i32) -> i32`.
    pub realloc: Option<ReallocIndex>,
    /// `(post-return ...)`: called with the flat results after a lifted call's results are
    /// read (lift only).
    pub post_return: Option<PostReturnIndex>,
    /// `async`: the component-model async ABI (a lift delivers its result with `task.return`;
    /// a lower returns a subtask status and writes results through a pointer).
    pub async_: bool,
    /// `(callback ...)` of an `async` lift (a stackless task: the core function returns a
    /// status code instead of blocking).
    pub callback: bool,
}

/// Where a component function comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FuncSource {
    /// A function the host provides: import `import`, then the export names in `path` (empty
    /// for a world-level function import, `["f"]` for function `f` of an imported instance).
    Import {
        /// The root import.
        import: ImportIndex,
        /// Names inside the imported instance(s).
        path: Vec<String>,
    },
    /// A function lifted out of core code (component-to-component calls go through an adapter).
    Lifted(LiftedIndex),
    /// `canon task.return`: "calling" it delivers the current async task's result (its
    /// parameters are the result; the lowering's instance is the task's).
    TaskReturn,
}

/// One step of instantiation, executed in order by the runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Initializer {
    /// Instantiates a core module: the next [`RuntimeInstanceIndex`]. `imports` has one core
    /// definition per import of the module, in the module's import order.
    InstantiateModule {
        /// The module.
        module: StaticModuleIndex,
        /// What each import is bound to.
        imports: Vec<CoreDef>,
    },
    /// Instantiates the core module the host provided for import `import` (of type
    /// [`ItemType::Module`]): the next [`RuntimeInstanceIndex`]. `imports` binds each import the
    /// module type declares, by name.
    InstantiateImportedModule {
        /// The core module import.
        import: ImportIndex,
        /// `(module, name, definition)` for each declared import, in the type's order.
        imports: Vec<(String, String, CoreDef)>,
    },
    /// Defines lowered core function `index`: a core function of type
    /// `flatten_func(ty, AbiContext::Lower)` that lowers a call into `callee`.
    Lower {
        /// The new lowered index.
        index: LoweredIndex,
        /// The component function called.
        callee: FuncSource,
        /// Its component type.
        ty: ComponentFuncType,
        /// Options of the lowering (the caller's side).
        options: CanonicalOptions,
    },
    /// Defines lifted component function `index` from core function `callee` (of type
    /// `flatten_func(ty, AbiContext::Lift)`).
    Lift {
        /// The new lifted index.
        index: LiftedIndex,
        /// The core function (an export of a core instance).
        callee: CoreDef,
        /// Its component type.
        ty: ComponentFuncType,
        /// Options of the lifting (the callee's side).
        options: CanonicalOptions,
        /// The `(callback ...)` core function of a stackless `async` lift, of type
        /// `(i32, i32, i32) -> i32`.
        callback: Option<Box<CoreDef>>,
    },
    /// Records the memory `export` as options memory `index`.
    ExtractMemory {
        /// The new memory index.
        index: RuntimeMemoryIndex,
        /// The memory.
        export: CoreExport,
    },
    /// Records core function `def` as realloc `index`.
    ExtractRealloc {
        /// The new realloc index.
        index: ReallocIndex,
        /// The function.
        def: CoreDef,
    },
    /// Records core function `def` as post-return `index`.
    ExtractPostReturn {
        /// The new post-return index.
        index: PostReturnIndex,
        /// The function.
        def: CoreDef,
    },
    /// Gives defined resource type `resource` its destructor (`(rep: i32) -> ()`, if any).
    DefineResource {
        /// The resource type (its [`ResourceKind::Defined`] entry).
        resource: ResourceIndex,
        /// The destructor.
        dtor: Option<CoreDef>,
    },
}

/// Where a resource type comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceKind {
    /// Imported from the host: import `import`, then `path` inside imported instances.
    Imported {
        /// The root import.
        import: ImportIndex,
        /// Names inside the imported instance(s).
        path: Vec<String>,
    },
    /// Defined by component instance `instance` (`(type (resource (rep i32) ...))`).
    Defined {
        /// The defining component instance.
        instance: ComponentInstanceIndex,
    },
}

/// A resource type of the component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceType {
    /// A name for messages and printing (the import/export name it was first seen under).
    pub name: String,
    /// Where it comes from.
    pub kind: ResourceKind,
}

/// The type of an imported or exported item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemType {
    /// A component function.
    Func(ComponentFuncType),
    /// An instance (an interface), with its items by name, in order.
    Instance(Vec<(String, ItemType)>),
    /// A resource type.
    Resource(ResourceIndex),
    /// A value type (named type exported or imported by an interface).
    Type(InterfaceType),
    /// A core module.
    Module(CoreModuleType),
}

/// An import of the root component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentImport {
    /// Import name (`name`, or an interface name like `ns:pkg/iface@1.0.0`).
    pub name: String,
    /// Its type.
    pub ty: ItemType,
}

/// An exported item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportItem {
    /// A component function.
    Func {
        /// Where it comes from.
        func: FuncSource,
        /// Its type.
        ty: ComponentFuncType,
    },
    /// An instance (an interface): its exports in order.
    Instance(Vec<ComponentExport>),
    /// A resource type.
    Resource(ResourceIndex),
    /// A value type.
    Type(InterfaceType),
    /// A core module (compiled into the `.so`, or one the host gave for an import).
    Module(ModuleRef),
}

/// A core module the plan can instantiate or export.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModuleRef {
    /// A module compiled into the `.so` ([`ComponentMetadata::modules`]).
    Static(StaticModuleIndex),
    /// The module the host provides for a core module import.
    Import(ImportIndex),
}

/// The type of a core item in a core module type (`ItemType::Module`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoreItemType {
    /// A function.
    Func(crate::FuncType),
    /// A table.
    Table(crate::TableType),
    /// A memory.
    Memory(crate::MemoryType),
    /// A global.
    Global(crate::GlobalType),
    /// A tag (exception handling), by its parameter types.
    Tag(crate::FuncType),
}

impl CoreItemType {
    /// The item's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            CoreItemType::Func(_) => "func",
            CoreItemType::Table(_) => "table",
            CoreItemType::Memory(_) => "memory",
            CoreItemType::Global(_) => "global",
            CoreItemType::Tag(_) => "tag",
        }
    }
}

/// A core module type: what a module imported by a component must provide and may need.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreModuleType {
    /// Imports the component will provide when it instantiates the module: `(module, name,
    /// type)`, in order.
    pub imports: Vec<(String, String, CoreItemType)>,
    /// Exports the component relies on.
    pub exports: Vec<(String, CoreItemType)>,
}

/// An export of the root component (or of an exported instance).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentExport {
    /// Export name.
    pub name: String,
    /// The item.
    pub item: ExportItem,
}

/// A distinct core module of the component, compiled into the same shared object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticModule {
    /// Module name from its name section, if any.
    pub name: Option<String>,
    /// Byte offset of the module in the component binary (for messages).
    pub offset: u32,
    /// Its imports `(module, name)` in order (what [`Initializer::InstantiateModule`] binds).
    pub imports: Vec<(String, String)>,
}

/// Everything the runtime needs to know about a compiled component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentMetadata {
    /// Build facts, checked first (the same facts as each core module's).
    pub build: BuildInfo,
    /// The distinct core modules, in the order of the component descriptor's module array.
    pub modules: Vec<StaticModule>,
    /// Number of component instances (root included).
    pub num_component_instances: u32,
    /// The parent of each component instance (`None` for the root, index 0): a nested
    /// instance's parent is the instance whose definitions instantiated it, so it has a lower
    /// index.
    pub instance_parents: Vec<Option<ComponentInstanceIndex>>,
    /// Number of core instances the initializers create.
    pub num_runtime_instances: u32,
    /// Number of lowered functions.
    pub num_lowered: u32,
    /// Number of lifted functions.
    pub num_lifted: u32,
    /// Number of option memories.
    pub num_memories: u32,
    /// Number of option reallocs.
    pub num_reallocs: u32,
    /// Number of option post-returns.
    pub num_post_returns: u32,
    /// Resource types, imported and defined.
    pub resources: Vec<ResourceType>,
    /// The root component's imports, in order.
    pub imports: Vec<ComponentImport>,
    /// The instantiation steps, in order.
    pub initializers: Vec<Initializer>,
    /// The root component's exports, in order.
    pub exports: Vec<ComponentExport>,
    /// Code offsets of the compiled canonical-ABI glue (see [`super::glue`]).
    pub glue: super::glue::GlueOffsets,
}

impl ComponentMetadata {
    /// Whether component instances `a` and `b` are the same or one contains the other.
    pub fn instances_nested(&self, a: ComponentInstanceIndex, b: ComponentInstanceIndex) -> bool {
        self.is_ancestor_or_self(a, b) || self.is_ancestor_or_self(b, a)
    }

    /// Whether `ancestor` is `inst` or one of its (transitive) parents.
    fn is_ancestor_or_self(
        &self,
        ancestor: ComponentInstanceIndex,
        inst: ComponentInstanceIndex,
    ) -> bool {
        let mut at = Some(inst);
        // Parents have lower indices (checked on load), so this walk ends.
        while let Some(i) = at {
            if i == ancestor {
                return true;
            }
            at = self.instance_parents.get(i as usize).copied().flatten();
        }
        false
    }

    /// Serializes the metadata (deterministic).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("metadata serialization cannot fail")
    }

    /// Deserializes metadata written by [`ComponentMetadata::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ComponentMetadata, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("corrupt kiln component metadata: {e}"))
    }

    /// A printable name of resource type `r`.
    pub fn resource_name(&self, r: ResourceIndex) -> &str {
        self.resources
            .get(r as usize)
            .map(|t| t.name.as_str())
            .unwrap_or("?")
    }

    /// The imports and exports as a WIT-like `world` (see [`super::wit`]).
    pub fn wit_world(&self) -> String {
        super::wit::world_to_wit(self)
    }

    /// Checks the plan's internal consistency: every index in range and defined before use,
    /// each `Lower`/`Lift`/`Extract*` index defined exactly once in order. The runtime runs
    /// this before instantiating, so a corrupt plan is an error, never undefined behaviour.
    pub fn check(&self) -> Result<(), String> {
        super::check::check_plan(self)
    }
}
