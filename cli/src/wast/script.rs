//! Executing one wast script: the per-script state (instances, registrations, `spectest`) and
//! the meaning of each directive.
//!
//! A script may mix core modules and components (`(component ...)`, component definitions
//! and instances); the current instance is the last one made of either kind, and `invoke`
//! calls a component export with component values ([`super::component_values`]).

use super::component::{self, ComponentState};
use super::component_values::{arg_to_component_val, check_component_results, format_cval};
use super::values::{arg_to_val, check_results, list};
use super::{DirectiveResult, FileReport, Outcome, WastRunner};
use crate::backend;
use kiln_environ::TrapKind;
use kiln_runtime::component::Val as CVal;
use kiln_runtime::{Component, ComponentInstance, Error, Extern, Instance, Module, Trap, Val};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use wasmparser::WasmFeatures;
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, Wat};

/// Epoch ticks (see [`WastRunner`]'s ticker) a directive may run before it is interrupted.
pub(super) const DIRECTIVE_DEADLINE_TICKS: u64 = 60;

/// Runs a whole script and collects one result per directive.
pub(super) fn run(
    runner: &WastRunner,
    name: &str,
    text: &str,
    features: WasmFeatures,
) -> FileReport {
    let lines = LineIndex::new(text);
    let mut report = FileReport {
        file: name.to_string(),
        results: Vec::new(),
    };
    let file_failure = |reason: String| DirectiveResult {
        file: name.to_string(),
        line: 1,
        col: 1,
        kind: "parse",
        outcome: Outcome::Fail(reason),
    };
    let mut lexer = Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buf = match ParseBuffer::new_with_lexer(lexer) {
        Ok(buf) => buf,
        Err(mut e) => {
            e.set_text(text);
            report
                .results
                .push(file_failure(format!("cannot lex script: {e}")));
            return report;
        }
    };
    let wast = match parser::parse::<Wast<'_>>(&buf) {
        Ok(w) => w,
        Err(mut e) => {
            e.set_text(text);
            report
                .results
                .push(file_failure(format!("cannot parse script: {e}")));
            return report;
        }
    };
    let mut state = ScriptState::new(runner, features);
    for directive in wast.directives {
        let (line, col) = lines.line_col(directive.span().offset());
        let kind = kind_name(&directive);
        let outcome = match catch_unwind(AssertUnwindSafe(|| state.run(directive))) {
            Ok(Ok(())) => Outcome::Pass,
            Ok(Err(reason)) => Outcome::Fail(reason),
            Err(panic) => Outcome::Fail(format!("panicked: {}", panic_message(&panic))),
        };
        report.results.push(DirectiveResult {
            file: name.to_string(),
            line,
            col,
            kind,
            outcome,
        });
    }
    report
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".into()
    }
}

/// Byte offset → 1-based line and column, in O(log lines).
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1) - 1;
        (line + 1, offset - self.starts[line] + 1)
    }
}

fn kind_name(d: &WastDirective<'_>) -> &'static str {
    match d {
        WastDirective::Module(_) => "module",
        WastDirective::ModuleDefinition(_) => "module definition",
        WastDirective::ModuleInstance { .. } => "module instance",
        WastDirective::AssertMalformed { .. } => "assert_malformed",
        WastDirective::AssertInvalid { .. } => "assert_invalid",
        WastDirective::AssertInvalidCustom { .. } => "assert_invalid_custom",
        WastDirective::AssertMalformedCustom { .. } => "assert_malformed_custom",
        WastDirective::Register { .. } => "register",
        WastDirective::Invoke(_) => "invoke",
        WastDirective::AssertTrap { .. } => "assert_trap",
        WastDirective::AssertReturn { .. } => "assert_return",
        WastDirective::AssertExhaustion { .. } => "assert_exhaustion",
        WastDirective::AssertUnlinkable { .. } => "assert_unlinkable",
        WastDirective::AssertException { .. } => "assert_exception",
        WastDirective::AssertSuspension { .. } => "assert_suspension",
        WastDirective::Thread(_) => "thread",
        WastDirective::Wait { .. } => "wait",
    }
}

/// What executing something produced.
enum Results {
    /// Core values.
    Core(Vec<Val>),
    /// A component function's result.
    Component(Option<CVal>),
}

impl Results {
    fn describe(&self) -> String {
        match self {
            Results::Core(vals) => list(vals),
            Results::Component(v) => v.as_ref().map(format_cval).unwrap_or_default(),
        }
    }
}

/// Why executing something did not produce values.
enum ExecError {
    /// The script or harness went wrong (unknown export, compile error...): always a failure.
    Harness(String),
    /// The runtime reported an error (trap, link error...): some directives expect it.
    Runtime(Error),
}

impl From<String> for ExecError {
    fn from(s: String) -> Self {
        ExecError::Harness(s)
    }
}

impl ExecError {
    fn describe(&self) -> String {
        match self {
            ExecError::Harness(s) => s.clone(),
            ExecError::Runtime(e) => describe_error(e),
        }
    }
}

fn describe_error(e: &Error) -> String {
    match e {
        Error::Trap(t) => match t.backtrace.first() {
            // Where it trapped helps whoever reads a failure.
            Some(f) => {
                let name = f
                    .func_name
                    .clone()
                    .unwrap_or_else(|| format!("<wasm function {}>", f.func_index));
                let at = f
                    .wasm_offset
                    .map(|o| format!(" offset {o:#x}"))
                    .unwrap_or_default();
                format!("trap: {} (in {name}{at})", t.rendered())
            }
            None => format!("trap: {}", t.rendered()),
        },
        Error::Link(m) => format!("link error: {m}"),
        Error::Load(m) => format!("load error: {m}"),
        Error::Busy(m) | Error::Other(m) => format!("error: {m}"),
    }
}

/// Whether a trap satisfies the expected message of `assert_trap`/`assert_exhaustion`: the
/// expected text is part of the trap as hosts see it (`wasm trap: <message>`, as wasmtime
/// renders traps, whose wording the Component Model's tests use), or of its kind's message.
fn trap_matches(trap: &Trap, expected: &str) -> bool {
    trap.rendered().contains(expected)
        || trap.kind.message().contains(expected)
        || expected.starts_with(trap.kind.message())
}

/// The state one script builds up as it runs.
struct ScriptState<'r> {
    runner: &'r WastRunner,
    features: WasmFeatures,
    spectest: Option<HashMap<&'static str, Extern>>,
    current: Option<Instance>,
    instances: HashMap<String, Instance>,
    definitions: HashMap<String, Module>,
    last_definition: Option<Module>,
    registered: HashMap<String, Instance>,
    /// Every instance made, so their epoch deadlines can be renewed before each directive.
    all: Vec<Instance>,
    /// Components, their instances and registrations.
    components: ComponentState,
    /// The current instance when it is a component instance (then `current` is `None`).
    current_component: Option<ComponentInstance>,
    /// Whether the last definition (`module definition`) was a component.
    last_definition_is_component: bool,
}

impl<'r> ScriptState<'r> {
    fn new(runner: &'r WastRunner, features: WasmFeatures) -> Self {
        ScriptState {
            runner,
            features,
            spectest: None,
            current: None,
            instances: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
            registered: HashMap::new(),
            all: Vec::new(),
            components: ComponentState::default(),
            current_component: None,
            last_definition_is_component: false,
        }
    }

    fn run(&mut self, directive: WastDirective<'_>) -> Result<(), String> {
        for inst in &self.all {
            inst.set_epoch_deadline(DIRECTIVE_DEADLINE_TICKS);
        }
        match directive {
            WastDirective::Module(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                if let Some(n) = &name {
                    self.instances.remove(n);
                    self.components.instances.remove(n);
                }
                self.current = None;
                self.current_component = None;
                let bytes = encode(&mut module)?;
                if is_component(&module) {
                    let compiled = self.compile_component(&bytes)?;
                    let inst = self
                        .instantiate_component(&compiled)
                        .map_err(|e| format!("instantiation failed: {}", describe_error(&e)))?;
                    if let Some(n) = name {
                        self.components.instances.insert(n, inst.clone());
                    }
                    self.current_component = Some(inst);
                    return Ok(());
                }
                let compiled = self.compile(&bytes)?;
                let inst = self
                    .instantiate(&compiled)
                    .map_err(|e| format!("instantiation failed: {}", describe_error(&e)))?;
                if let Some(n) = name {
                    self.instances.insert(n, inst.clone());
                }
                self.current = Some(inst);
                Ok(())
            }
            WastDirective::ModuleDefinition(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                let bytes = encode(&mut module)?;
                self.last_definition_is_component = is_component(&module);
                if self.last_definition_is_component {
                    let compiled = self.compile_component(&bytes)?;
                    if let Some(n) = name {
                        self.components.definitions.insert(n, compiled.clone());
                    }
                    self.components.last_definition = Some(compiled);
                    return Ok(());
                }
                let compiled = self.compile(&bytes)?;
                if let Some(n) = name {
                    self.definitions.insert(n, compiled.clone());
                }
                self.last_definition = Some(compiled);
                Ok(())
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let component_def = match module {
                    Some(id) => self.components.definitions.get(id.name()).cloned(),
                    None if self.last_definition_is_component => {
                        self.components.last_definition.clone()
                    }
                    None => None,
                };
                if let Some(def) = component_def {
                    let inst = self
                        .instantiate_component(&def)
                        .map_err(|e| format!("instantiation failed: {}", describe_error(&e)))?;
                    if let Some(id) = instance {
                        self.components
                            .instances
                            .insert(id.name().to_string(), inst.clone());
                    }
                    self.current = None;
                    self.current_component = Some(inst);
                    return Ok(());
                }
                let def = match module {
                    Some(id) => self.definitions.get(id.name()).cloned(),
                    None => self.last_definition.clone(),
                }
                .ok_or("unknown module definition")?;
                let inst = self
                    .instantiate(&def)
                    .map_err(|e| format!("instantiation failed: {}", describe_error(&e)))?;
                if let Some(id) = instance {
                    self.instances.insert(id.name().to_string(), inst.clone());
                }
                self.current = Some(inst);
                self.current_component = None;
                Ok(())
            }
            WastDirective::Register { name, module, .. } => {
                if let Some(inst) = self.component_instance(module.map(|id| id.name())) {
                    self.components.register(name, inst);
                    return Ok(());
                }
                let inst = self.instance(module.map(|id| id.name()))?;
                self.registered.insert(name.to_string(), inst);
                Ok(())
            }
            WastDirective::Invoke(invoke) => {
                self.invoke(&invoke).map_err(|e| e.describe())?;
                Ok(())
            }
            WastDirective::AssertReturn { exec, results, .. } => {
                match self.execute(exec).map_err(|e| e.describe())? {
                    Results::Core(got) => check_results(&got, &results),
                    Results::Component(got) => check_component_results(got.as_ref(), &results),
                }
            }
            WastDirective::AssertTrap { exec, message, .. } => match self.execute(exec) {
                Ok(vals) => Err(format!(
                    "expected trap \"{message}\", got results [{}]",
                    vals.describe()
                )),
                Err(ExecError::Runtime(Error::Trap(t))) if trap_matches(&t, message) => Ok(()),
                Err(e) => Err(format!("expected trap \"{message}\", got {}", e.describe())),
            },
            WastDirective::AssertException { exec, .. } => match self.execute(exec) {
                Ok(vals) => Err(format!(
                    "expected an uncaught exception, got results [{}]",
                    vals.describe()
                )),
                Err(ExecError::Runtime(Error::Trap(t)))
                    if t.kind == TrapKind::UncaughtException =>
                {
                    Ok(())
                }
                Err(e) => Err(format!(
                    "expected an uncaught exception, got {}",
                    e.describe()
                )),
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Ok(vals) => Err(format!(
                    "expected \"{message}\", got results [{}]",
                    vals.describe()
                )),
                Err(ExecError::Runtime(Error::Trap(t)))
                    if t.kind == TrapKind::StackOverflow || trap_matches(&t, message) =>
                {
                    Ok(())
                }
                Err(e) => Err(format!("expected \"{message}\", got {}", e.describe())),
            },
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => {
                let bytes = encode(&mut module)?;
                let valid = if is_component(&module) {
                    component::validate(&bytes, &self.config()).is_ok()
                } else {
                    backend::validate(&bytes, self.features).is_ok()
                };
                match valid {
                    false => Ok(()),
                    true => Err(format!("invalid module (\"{message}\") was accepted")),
                }
            }
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => {
                // A text module that does not even parse is malformed: that is a pass.
                let Ok(bytes) = module.encode() else {
                    return Ok(());
                };
                let valid = if is_component(&module) {
                    component::validate(&bytes, &self.config()).is_ok()
                } else {
                    backend::validate(&bytes, self.features).is_ok()
                };
                match valid {
                    false => Ok(()),
                    true => Err(format!("malformed module (\"{message}\") was accepted")),
                }
            }
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => {
                let bytes = encode_wat(&mut module)?;
                let linked = if let Wat::Component(_) = module {
                    let compiled = self.compile_component(&bytes)?;
                    self.instantiate_component(&compiled).map(drop)
                } else {
                    let compiled = self.compile(&bytes)?;
                    self.instantiate(&compiled).map(drop)
                };
                match linked {
                    Ok(_) => Err(format!("expected link error \"{message}\", but it linked")),
                    Err(Error::Link(_)) => Ok(()),
                    Err(e) => Err(format!(
                        "expected link error \"{message}\", got {}",
                        describe_error(&e)
                    )),
                }
            }
            WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. }
            | WastDirective::AssertSuspension { .. }
            | WastDirective::Thread(_)
            | WastDirective::Wait { .. } => Err("directive not supported by kiln".into()),
        }
    }

    /// The named instance, or the current one.
    fn instance(&self, name: Option<&str>) -> Result<Instance, String> {
        match name {
            Some(n) => self
                .instances
                .get(n)
                .cloned()
                .ok_or_else(|| format!("unknown instance ${n}")),
            None => self
                .current
                .clone()
                .ok_or_else(|| "no current instance".to_string()),
        }
    }

    /// The named component instance, or the current one if it is a component instance.
    fn component_instance(&self, name: Option<&str>) -> Option<ComponentInstance> {
        match name {
            Some(n) if self.instances.contains_key(n) => None,
            Some(n) => self.components.instances.get(n).cloned(),
            None => self.current_component.clone(),
        }
    }

    fn compile(&self, bytes: &[u8]) -> Result<Module, String> {
        self.runner.cache.get(bytes, self.features)
    }

    fn compile_component(&self, bytes: &[u8]) -> Result<Component, String> {
        self.runner.cache.get_component(bytes, self.features)
    }

    /// The compiler configuration of this script.
    fn config(&self) -> kiln_compiler::Config {
        kiln_compiler::Config {
            features: self.features,
            ..self.runner.cache.options().config()
        }
    }

    /// Instantiates a component (imports from registered component instances).
    fn instantiate_component(&mut self, component: &Component) -> Result<ComponentInstance, Error> {
        let inst = component::instantiate(self.runner.engine(), component, &self.components)?;
        for core in inst.core_instances() {
            core.set_epoch_deadline(DIRECTIVE_DEADLINE_TICKS);
            self.all.push(core.clone());
        }
        Ok(inst)
    }

    fn spectest_item(&mut self, name: &str) -> Result<Option<Extern>, Error> {
        if self.spectest.is_none() {
            self.spectest =
                Some(super::spectest::spectest(self.runner.engine()).map_err(Error::Other)?);
        }
        Ok(self.spectest.as_ref().and_then(|s| s.get(name).cloned()))
    }

    /// Resolves the module's imports from registered instances and `spectest`, then
    /// instantiates it.
    fn instantiate(&mut self, module: &Module) -> Result<Instance, Error> {
        let mut externs = Vec::new();
        for import in module.imports() {
            let item = match self.registered.get(&import.module) {
                Some(inst) => inst.get_export(&import.name),
                None if import.module == "spectest" => self.spectest_item(&import.name)?,
                None => None,
            };
            match item {
                Some(item) => externs.push(item),
                None => {
                    return Err(Error::Link(format!(
                        "unknown import `{}::{}`",
                        import.module, import.name
                    )))
                }
            }
        }
        let inst = Instance::new(module, &externs)?;
        inst.set_epoch_deadline(DIRECTIVE_DEADLINE_TICKS);
        self.all.push(inst.clone());
        Ok(inst)
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Results, ExecError> {
        if let Some(inst) = self.component_instance(invoke.module.map(|id| id.name())) {
            let args = invoke
                .args
                .iter()
                .map(arg_to_component_val)
                .collect::<Result<Vec<_>, _>>()?;
            if inst.get_func(invoke.name).is_none() {
                return Err(
                    format!("no component function export named \"{}\"", invoke.name).into(),
                );
            }
            return inst
                .call(invoke.name, &args)
                .map(Results::Component)
                .map_err(ExecError::Runtime);
        }
        let inst = self.instance(invoke.module.map(|id| id.name()))?;
        let func = inst
            .get_func(invoke.name)
            .ok_or_else(|| format!("no function export named \"{}\"", invoke.name))?;
        let args = invoke
            .args
            .iter()
            .map(arg_to_val)
            .collect::<Result<Vec<_>, _>>()?;
        func.call(&args)
            .map(Results::Core)
            .map_err(ExecError::Runtime)
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Results, ExecError> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Wat(mut wat) => {
                let bytes = encode_wat(&mut wat)?;
                if let Wat::Component(_) = wat {
                    let compiled = self.compile_component(&bytes)?;
                    self.instantiate_component(&compiled)
                        .map_err(ExecError::Runtime)?;
                    return Ok(Results::Component(None));
                }
                let compiled = self.compile(&bytes)?;
                self.instantiate(&compiled).map_err(ExecError::Runtime)?;
                Ok(Results::Core(Vec::new()))
            }
            WastExecute::Get { module, global, .. } => {
                let inst = self.instance(module.map(|id| id.name()))?;
                match inst.get_export(global) {
                    Some(Extern::Global(g)) => Ok(Results::Core(vec![g.get()])),
                    _ => Err(format!("no global export named \"{global}\"").into()),
                }
            }
        }
    }
}

/// Whether a script module is a component.
fn is_component(module: &QuoteWat<'_>) -> bool {
    matches!(
        module,
        QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..)
    )
}

fn encode(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    module
        .encode()
        .map_err(|e| format!("cannot encode module: {}", e.message()))
}

fn encode_wat(wat: &mut Wat<'_>) -> Result<Vec<u8>, String> {
    wat.encode()
        .map_err(|e| format!("cannot encode module: {}", e.message()))
}
