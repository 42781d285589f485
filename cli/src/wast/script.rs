//! Executing one wast script: the per-script state (instances, registrations, `spectest`) and
//! the meaning of each directive.

use super::values::{arg_to_val, check_results, list};
use super::{DirectiveResult, FileReport, Outcome, WastRunner};
use crate::backend;
use kiln_environ::TrapKind;
use kiln_runtime::{Error, Extern, Instance, Module, Trap, Val};
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
        Error::Trap(t) => format!("trap: {}", t.message),
        Error::Link(m) => format!("link error: {m}"),
        Error::Load(m) => format!("load error: {m}"),
        Error::Other(m) => format!("error: {m}"),
    }
}

/// Whether a trap satisfies the expected message of `assert_trap`/`assert_exhaustion`.
fn trap_matches(trap: &Trap, expected: &str) -> bool {
    trap.message.contains(expected)
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
                }
                self.current = None;
                let bytes = encode(&mut module)?;
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
                Ok(())
            }
            WastDirective::Register { name, module, .. } => {
                let inst = self.instance(module.map(|id| id.name()))?;
                self.registered.insert(name.to_string(), inst);
                Ok(())
            }
            WastDirective::Invoke(invoke) => {
                self.invoke(&invoke).map_err(|e| e.describe())?;
                Ok(())
            }
            WastDirective::AssertReturn { exec, results, .. } => {
                let got = self.execute(exec).map_err(|e| e.describe())?;
                check_results(&got, &results)
            }
            WastDirective::AssertTrap { exec, message, .. } => match self.execute(exec) {
                Ok(vals) => Err(format!(
                    "expected trap \"{message}\", got results [{}]",
                    list(&vals)
                )),
                Err(ExecError::Runtime(Error::Trap(t))) if trap_matches(&t, message) => Ok(()),
                Err(e) => Err(format!("expected trap \"{message}\", got {}", e.describe())),
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Ok(vals) => Err(format!(
                    "expected \"{message}\", got results [{}]",
                    list(&vals)
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
                match backend::validate(&bytes, self.features) {
                    Err(_) => Ok(()),
                    Ok(()) => Err(format!("invalid module (\"{message}\") was accepted")),
                }
            }
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => {
                if let QuoteWat::QuoteComponent(..) = module {
                    return Err("components are not supported".into());
                }
                // A text module that does not even parse is malformed: that is a pass.
                let Ok(bytes) = module.encode() else {
                    return Ok(());
                };
                match backend::validate(&bytes, self.features) {
                    Err(_) => Ok(()),
                    Ok(()) => Err(format!("malformed module (\"{message}\") was accepted")),
                }
            }
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => {
                let bytes = encode_wat(&mut module)?;
                let compiled = self.compile(&bytes)?;
                match self.instantiate(&compiled) {
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
            | WastDirective::AssertException { .. }
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

    fn compile(&self, bytes: &[u8]) -> Result<Module, String> {
        self.runner.cache.get(bytes, self.features)
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

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Vec<Val>, ExecError> {
        let inst = self.instance(invoke.module.map(|id| id.name()))?;
        let func = inst
            .get_func(invoke.name)
            .ok_or_else(|| format!("no function export named \"{}\"", invoke.name))?;
        let args = invoke
            .args
            .iter()
            .map(arg_to_val)
            .collect::<Result<Vec<_>, _>>()?;
        func.call(&args).map_err(ExecError::Runtime)
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Vec<Val>, ExecError> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Wat(mut wat) => {
                let bytes = encode_wat(&mut wat)?;
                let compiled = self.compile(&bytes)?;
                self.instantiate(&compiled).map_err(ExecError::Runtime)?;
                Ok(Vec::new())
            }
            WastExecute::Get { module, global, .. } => {
                let inst = self.instance(module.map(|id| id.name()))?;
                match inst.get_export(global) {
                    Some(Extern::Global(g)) => Ok(vec![g.get()]),
                    _ => Err(format!("no global export named \"{global}\"").into()),
                }
            }
        }
    }
}

fn encode(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    if let QuoteWat::QuoteComponent(..) = module {
        return Err("components are not supported".into());
    }
    module
        .encode()
        .map_err(|e| format!("cannot encode module: {}", e.message()))
}

fn encode_wat(wat: &mut Wat<'_>) -> Result<Vec<u8>, String> {
    if let Wat::Component(_) = wat {
        return Err("components are not supported".into());
    }
    wat.encode()
        .map_err(|e| format!("cannot encode module: {}", e.message()))
}
