//! Resource limits a host sets per store: how far memories and tables may grow, how many
//! instances a store may hold, and how much host memory one call may spend on lifted
//! component values.
//!
//! A host installs a [`ResourceLimiter`] on a linker (`Linker::set_limiter`,
//! `ComponentLinker::set_limiter`); the stores of the instances it creates consult it. Growth a
//! limiter refuses fails the way the guest expects a failed growth to (`memory.grow` and
//! `table.grow` return -1, a host `grow` an error); an instance beyond the count fails to
//! instantiate; lifting beyond the value budget traps.

/// Default budget of host memory for the values lifted by one component call (256 MiB).
pub const DEFAULT_HOST_VALUE_BYTES: usize = 256 << 20;

/// Decides how far a store's resources may grow (modelled on wasmtime's `ResourceLimiter`).
///
/// Called on the thread running the store; must not call back into it.
pub trait ResourceLimiter: Send + Sync {
    /// Whether a linear memory may grow from `current` to `desired` bytes (`maximum`: its
    /// declared maximum in bytes, if any). Also asked for a memory's initial size.
    fn memory_growing(&self, current: u64, desired: u64, maximum: Option<u64>) -> bool {
        let _ = (current, desired, maximum);
        true
    }

    /// Whether a table may grow from `current` to `desired` elements. Also asked for a
    /// table's initial size.
    fn table_growing(&self, current: u64, desired: u64, maximum: Option<u64>) -> bool {
        let _ = (current, desired, maximum);
        true
    }

    /// How many instances (core and component) the store may hold.
    fn instances(&self) -> usize {
        usize::MAX
    }

    /// Bytes of host memory one component call may spend on the values it lifts (strings,
    /// lists and their elements, counted as the host representation needs them).
    fn host_value_bytes(&self) -> usize {
        DEFAULT_HOST_VALUE_BYTES
    }
}

/// A [`ResourceLimiter`] with fixed limits (`None`: unlimited).
#[derive(Clone, Debug)]
pub struct StoreLimits {
    /// Largest size of any one linear memory, in bytes.
    pub memory_size: Option<u64>,
    /// Most elements of any one table.
    pub table_elements: Option<u64>,
    /// Most instances in the store.
    pub instances: usize,
    /// Host memory budget of one component call's lifted values, in bytes.
    pub host_value_bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> StoreLimits {
        StoreLimits {
            memory_size: None,
            table_elements: None,
            instances: usize::MAX,
            host_value_bytes: DEFAULT_HOST_VALUE_BYTES,
        }
    }
}

impl ResourceLimiter for StoreLimits {
    fn memory_growing(&self, _current: u64, desired: u64, _maximum: Option<u64>) -> bool {
        self.memory_size.is_none_or(|m| desired <= m)
    }

    fn table_growing(&self, _current: u64, desired: u64, _maximum: Option<u64>) -> bool {
        self.table_elements.is_none_or(|m| desired <= m)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn host_value_bytes(&self) -> usize {
        self.host_value_bytes
    }
}
