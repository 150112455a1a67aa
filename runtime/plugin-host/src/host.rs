//! The engine, its epoch ticker, component loading and the code cache.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Trap,
};

use crate::cache::CodeCache;
use crate::error::{FailureKind, LoadError, PluginError};
use crate::limits::Limits;

/// Bytes of each pooled memory reset by memset and kept resident.
const KEEP_RESIDENT: usize = 128 << 10;

/// How the host is set up. Rejected before anything runs if out of range.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Where compiled code is cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Epoch tick: the granularity of wall-clock deadlines (default 5 ms).
    pub tick: Duration,
    /// Instances alive at once across all plugins (default 64): the pool's
    /// size, so also the most calls in flight.
    pub max_instances: u32,
    /// The largest memory cap any plugin may be given (default 64 MiB).
    pub max_memory_bytes: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig { cache_dir: None, tick: Duration::from_millis(5), max_instances: 64, max_memory_bytes: 64 << 20 }
    }
}

/// Per-store state: only the resource limiter.
pub(crate) struct StoreState {
    limits: StoreLimits,
}

/// Failure counters, by plugin and kind.
#[derive(Debug, Default)]
pub struct PluginStats {
    failures: Mutex<BTreeMap<(String, FailureKind), u64>>,
    calls: AtomicU64,
}

impl PluginStats {
    /// Failures so far, by plugin and kind.
    pub fn failures(&self) -> BTreeMap<(String, FailureKind), u64> {
        self.failures.lock().unwrap().clone()
    }

    /// Failures of one plugin, all kinds.
    pub fn failures_of(&self, plugin: &str) -> u64 {
        self.failures.lock().unwrap().iter().filter(|((p, _), _)| p == plugin).map(|(_, n)| n).sum()
    }

    /// Calls made, successful or not.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub(crate) fn record(&self, err: &PluginError) {
        *self.failures.lock().unwrap().entry((err.plugin.clone(), err.kind)).or_default() += 1;
    }
}

struct Inner {
    engine: Engine,
    cache: Option<CodeCache>,
    config: HostConfig,
    stats: PluginStats,
    stop: Arc<AtomicBool>,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.lock().unwrap().take() {
            let _ = t.join();
        }
    }
}

/// The plugin host. Cheap to clone; the ticker thread stops when the last
/// clone is dropped.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("config", &self.inner.config).finish()
    }
}

/// Which Warden world a component implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum World {
    /// `warden:plugin/detector`.
    Detector,
    /// `warden:plugin/classifier`.
    Classifier,
}

impl World {
    /// The world's WIT name.
    pub fn wit_name(self) -> &'static str {
        match self {
            World::Detector => "warden:plugin/detector@0.1.0",
            World::Classifier => "warden:plugin/classifier@0.1.0",
        }
    }
}

/// One export of a component, for `warden plugin check`.
#[derive(Clone, Debug)]
pub struct ExportInfo {
    /// Export name.
    pub name: String,
    /// What it is, e.g. `func(text) -> 1 result`.
    pub kind: String,
}

/// A compiled component and what it implements.
#[derive(Clone)]
pub struct LoadedComponent {
    pub(crate) name: String,
    pub(crate) component: Component,
    /// The world it implements.
    pub world: World,
    /// Its exports.
    pub exports: Vec<ExportInfo>,
    /// SHA-256 of the component bytes, hex.
    pub sha256: String,
    /// Whether the compiled code came from the cache.
    pub from_cache: bool,
    /// Imported instances that carry only types (satisfied by empty ones).
    pub(crate) type_imports: Vec<String>,
}

impl PluginHost {
    /// Build the engine and start the epoch ticker.
    pub fn new(config: HostConfig) -> Result<PluginHost, LoadError> {
        let bad = |msg: String| LoadError::Invalid { name: "host".into(), msg };
        if config.tick.is_zero() || config.tick > Duration::from_secs(1) {
            return Err(bad(format!("tick must be between 1 ns and 1 s, got {:?}", config.tick)));
        }
        if config.max_instances == 0 {
            return Err(bad("max_instances must be at least 1".into()));
        }
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * 2)
            .total_memories(config.max_instances * 2)
            .total_tables(config.max_instances * 2)
            .max_memory_size(config.max_memory_bytes)
            // PERF: reset the first pages of a returned instance's memory
            // with memset and keep them mapped, instead of madvise and fresh
            // page faults on the next call; the guests link a 64 KiB stack
            // (plugins/.cargo/config.toml) so a call's pages are those first
            // ones. `cargo bench -p warden-plugin-host --bench plugins`,
            // trivial-1KiB/fresh: 36.8 µs without either, 24.3 µs with 128 KiB
            // kept, 32.7 µs with 64 KiB, 54 µs with 1 MiB (the memset wins).
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| bad(format!("engine: {e}")))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(CodeCache::open(dir, &engine)?),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            let tick = config.tick;
            std::thread::Builder::new()
                .name("warden-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| bad(format!("epoch ticker: {e}")))?
        };
        Ok(PluginHost {
            inner: Arc::new(Inner {
                engine,
                cache,
                config,
                stats: PluginStats::default(),
                stop,
                ticker: Mutex::new(Some(ticker)),
            }),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Failure and call counters.
    pub fn stats(&self) -> &PluginStats {
        &self.inner.stats
    }

    /// Compile (or fetch from the cache) a component and find its world.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<LoadedComponent, LoadError> {
        let sha256 = hex(&Sha256::digest(bytes));
        let invalid = |msg: String| LoadError::Invalid { name: name.to_string(), msg };
        let (component, from_cache) = match &self.inner.cache {
            Some(cache) => cache.get_or_compile(&self.inner.engine, &sha256, bytes).map_err(|e| match e {
                crate::cache::CacheError::Compile(msg) => invalid(msg),
            })?,
            None => (Component::new(&self.inner.engine, bytes).map_err(|e| invalid(format!("{e:#}")))?, false),
        };
        let ty = component.component_type();
        let engine = &self.inner.engine;
        // The only imports allowed carry types and nothing else (the WIT
        // `use types.{...}` becomes such an import): no functions, no
        // resources, so the plugin gets no capability from the host.
        let mut type_imports = Vec::new();
        for (imp, item) in ty.imports(engine) {
            let types_only = match &item.ty {
                ComponentItem::ComponentInstance(inst) => {
                    inst.exports(engine).all(|(_, e)| matches!(e.ty, ComponentItem::Type(_)))
                }
                ComponentItem::Type(_) => true,
                _ => false,
            };
            if !types_only {
                return Err(LoadError::World {
                    name: name.into(),
                    msg: format!("imports {imp:?} from the host; Warden plugins may import nothing but types"),
                });
            }
            if matches!(item.ty, ComponentItem::ComponentInstance(_)) {
                type_imports.push(imp.to_string());
            }
        }
        let exports: Vec<ExportInfo> =
            ty.exports(engine).map(|(n, item)| ExportInfo { name: n.to_string(), kind: describe(&item.ty) }).collect();
        let has = |n: &str| exports.iter().any(|e| e.name == n && e.kind.starts_with("func"));
        let world = match (has("detect"), has("classify")) {
            (true, false) => World::Detector,
            (false, true) => World::Classifier,
            _ => {
                let names: Vec<_> = exports.iter().map(|e| e.name.as_str()).collect();
                return Err(LoadError::World {
                    name: name.into(),
                    msg: format!(
                        "exports {names:?}: expected exactly one of `detect` (detector world) or `classify` (classifier world)"
                    ),
                });
            }
        };
        Ok(LoadedComponent { name: name.to_string(), component, world, exports, sha256, from_cache, type_imports })
    }

    /// A linker with nothing in it but empty instances for the component's
    /// type-only imports: plugins get no functions from the host.
    pub(crate) fn linker(&self, loaded: &LoadedComponent) -> Result<Linker<StoreState>, wasmtime::Error> {
        let mut linker = Linker::new(&self.inner.engine);
        for name in &loaded.type_imports {
            linker.instance(name)?;
        }
        Ok(linker)
    }

    /// A fresh store with `limits`: memory cap, fuel, wall-clock deadline.
    pub(crate) fn store(&self, limits: &Limits) -> Result<Store<StoreState>, String> {
        let memory = limits.memory_bytes.min(self.inner.config.max_memory_bytes);
        let state = StoreState {
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .instances(4)
                .memories(4)
                .tables(8)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        self.reset(&mut store, limits)?;
        Ok(store)
    }

    /// Fresh fuel and deadline for one more call in `store`.
    pub(crate) fn reset(&self, store: &mut Store<StoreState>, limits: &Limits) -> Result<(), String> {
        store.set_fuel(limits.fuel).map_err(|e| e.to_string())?;
        let tick = self.inner.config.tick.as_nanos().max(1);
        let ticks = (limits.deadline().as_nanos().div_ceil(tick) as u64).max(1);
        store.set_epoch_deadline(ticks);
        self.inner.stats.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Map a wasmtime error from instantiating or calling into a failure kind.
pub(crate) fn failure(plugin: &str, err: &wasmtime::Error, instantiating: bool) -> PluginError {
    let kind = match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => FailureKind::Fuel,
        Some(Trap::Interrupt) => FailureKind::Timeout,
        Some(_) => FailureKind::Trap,
        None => {
            let text = format!("{err:#}");
            if text.contains("memory") && (text.contains("grow") || text.contains("limit")) {
                FailureKind::Memory
            } else if instantiating {
                FailureKind::Instantiate
            } else {
                FailureKind::Trap
            }
        }
    };
    // The error chain names wasm functions and trap codes; it never holds
    // the input, which the guest only has in its own memory.
    PluginError { plugin: plugin.to_string(), kind, detail: format!("{err:#}") }
}

fn describe(item: &ComponentItem) -> String {
    match item {
        ComponentItem::ComponentFunc(f) => {
            let params: Vec<&str> = f.params().map(|(n, _)| n).collect();
            format!("func({}) -> {} result(s)", params.join(", "), f.results().len())
        }
        ComponentItem::CoreFunc(_) => "core func".into(),
        ComponentItem::Module(_) => "core module".into(),
        ComponentItem::Component(_) => "component".into(),
        ComponentItem::ComponentInstance(_) => "instance".into(),
        ComponentItem::Type(_) => "type".into(),
        ComponentItem::Resource(_) => "resource".into(),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
