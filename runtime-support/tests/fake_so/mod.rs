//! A hand-assembled kiln shared object for the runtime's tests.
//!
//! The compiler is developed separately, so these tests build a `.so` that follows the artifact
//! contract by hand: x86-64 assembly (each function in a fixed 256-byte slot so code offsets are
//! known before assembling), a descriptor, metadata serialized with `kiln-environ`, and a data
//! blob with a page-aligned memory image. Every function is written directly in the array-call
//! convention, so its body doubles as its array trampoline.

#![allow(dead_code)]

use kiln_environ::vmoffsets::{STORE_CONTEXT_EPOCH_DEADLINE, STORE_CONTEXT_STACK_LIMIT};
use kiln_environ::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Slot size of each function.
pub const SLOT: u32 = 0x100;

/// Function indices of the fake module.
pub mod f {
    pub const HOST_IMPORT: u32 = 0;
    pub const LOAD: u32 = 1;
    pub const UNREACHABLE: u32 = 2;
    pub const CALL_HOST: u32 = 3;
    pub const GROW: u32 = 4;
    pub const FILL: u32 = 5;
    pub const RECURSE: u32 = 6;
    pub const RECURSE_NOLIMIT: u32 = 7;
    pub const SPIN: u32 = 8;
    pub const DIV: u32 = 9;
    pub const FUNCREF: u32 = 10;
    pub const STORE: u32 = 11;
    pub const CALL_TABLE: u32 = 12;
    pub const COUNT: u32 = 13;
}

/// Offset of the trapping instruction inside its slot.
pub const TRAP_AT: u32 = 0x40;

fn ft(params: &[ValType], results: &[ValType]) -> FuncType {
    FuncType {
        params: params.to_vec(),
        results: results.to_vec(),
    }
}

/// The metadata of the fake module.
pub fn metadata() -> ModuleMetadata {
    use ValType::*;
    let types = vec![
        ft(&[I32], &[I32]),        // 0
        ft(&[], &[]),              // 1
        ft(&[I64], &[I64]),        // 2
        ft(&[I64, I32, I64], &[]), // 3
        ft(&[I32, I32], &[I32]),   // 4
        ft(&[], &[FuncRef]),       // 5
        ft(&[I32, I32], &[]),      // 6
    ];
    let fty = [0, 0, 1, 0, 2, 3, 1, 1, 1, 4, 5, 6, 4];
    let names = [
        "cb",
        "load",
        "unreachable",
        "call_host",
        "grow",
        "fill",
        "recurse",
        "recurse_nolimit",
        "spin",
        "div",
        "funcref",
        "store",
        "call_table",
    ];
    let mut functions = Vec::new();
    for i in 0..f::COUNT {
        let slot = i * SLOT;
        functions.push(FunctionInfo {
            type_index: fty[i as usize],
            body: (i != 0).then_some((slot, SLOT)),
            array_trampoline: (i != 0).then_some(slot),
            host_trampoline: (i == 0).then_some(slot),
        });
    }
    let exports = (1..f::COUNT)
        .map(|i| Export {
            name: names[i as usize].into(),
            kind: ExportKind::Func,
            index: i,
        })
        .chain([
            Export {
                name: "memory".into(),
                kind: ExportKind::Memory,
                index: 0,
            },
            Export {
                name: "table".into(),
                kind: ExportKind::Table,
                index: 0,
            },
            Export {
                name: "g".into(),
                kind: ExportKind::Global,
                index: 0,
            },
        ])
        .collect();
    let mut trap_sites = vec![
        (f::LOAD * SLOT + TRAP_AT, TrapKind::MemoryOutOfBounds),
        (
            f::UNREACHABLE * SLOT + TRAP_AT,
            TrapKind::UnreachableCodeReached,
        ),
        (f::RECURSE * SLOT + TRAP_AT, TrapKind::StackOverflow),
        (f::DIV * SLOT + TRAP_AT, TrapKind::IntegerDivisionByZero),
        (f::STORE * SLOT + TRAP_AT, TrapKind::MemoryOutOfBounds),
    ];
    trap_sites.sort_by_key(|(o, _)| *o);
    let address_map: Vec<(u32, u32)> = (1..f::COUNT)
        .flat_map(|i| [(i * SLOT, i * 0x100), (i * SLOT + TRAP_AT, i * 0x100 + 7)])
        .collect();
    ModuleMetadata {
        build: BuildInfo {
            kiln_version: KILN_VERSION.into(),
            abi_version: ABI_VERSION,
            target: "x86_64-unknown-linux-gnu".into(),
            cpu: "x86-64".into(),
            cpu_features: vec!["sse2".into()],
            input_sha256: [0; 32],
            opt_level: 0,
            bounds_checks: BoundsChecks::Guard,
            epoch_interruption: true,
            debug_info: false,
        },
        types,
        imports: vec![Import {
            module: "host".into(),
            name: "cb".into(),
            kind: ImportKind::Func(0),
        }],
        functions,
        tables: vec![TableType {
            element: ValType::FuncRef,
            min: 2,
            max: Some(10),
        }],
        memories: vec![MemoryType {
            min: 1,
            max: Some(3),
            memory64: false,
            shared: false,
            page_size_log2: 16,
        }],
        globals: vec![GlobalType {
            ty: ValType::I32,
            mutable: true,
        }],
        tags: Vec::new(),
        type_identities: Vec::new(),
        global_inits: vec![ConstExpr {
            ops: vec![ConstOp::I32Const(40), ConstOp::I32Const(2), ConstOp::I32Add],
        }],
        exports,
        start: None,
        elems: vec![ElemSegment {
            mode: ElemMode::Active {
                table: 0,
                offset: ConstExpr {
                    ops: vec![ConstOp::I32Const(0)],
                },
            },
            element: ValType::FuncRef,
            items: vec![
                ConstExpr {
                    ops: vec![ConstOp::RefFunc(f::LOAD)],
                },
                ConstExpr {
                    ops: vec![ConstOp::RefNull],
                },
            ],
        }],
        data: vec![
            // Already in the image: must not be copied (its bytes say "WRONG").
            DataSegment {
                mode: DataMode::Active {
                    memory: 0,
                    offset: ConstExpr {
                        ops: vec![ConstOp::I32Const(0)],
                    },
                },
                data_offset: 65536 + 8,
                len: 5,
                in_image: true,
            },
            DataSegment {
                mode: DataMode::Active {
                    memory: 0,
                    offset: ConstExpr {
                        ops: vec![ConstOp::I32Const(100)],
                    },
                },
                data_offset: 65536,
                len: 5,
                in_image: false,
            },
        ],
        memory_images: vec![MemoryImage {
            memory: 0,
            memory_offset: 0,
            data_offset: 0,
            len: 65536,
        }],
        trap_sites: TrapTable::from_sorted_sites(trap_sites),
        address_map: OffsetTable::from_sorted_pairs(address_map),
        exception_table: Default::default(),
        name: Some("fake".into()),
        function_names: kiln_environ::NameTable::from_names(names.iter().map(|n| Some(*n))),
        debug_lines: Some(DebugLineTable::new(
            &["fake.c".into()],
            &[
                (f::LOAD * SLOT, 0, 10),
                (f::LOAD * SLOT + TRAP_AT, 0, 12),
                (f::LOAD * SLOT + TRAP_AT + 4, 0, 0),
            ],
        )),
    }
}

/// The assembly source of the fake module with `md` as its metadata.
pub fn assembly(md: &ModuleMetadata) -> String {
    let o = md.vmoffsets();
    let mut s = String::new();
    s += &format!(".set MEM0, {}\n", o.vmctx_defined_memory(0));
    s += &format!(".set IMP0, {}\n", o.vmctx_imported_function(0));
    s += &format!(".set REF_LOAD, {}\n", o.vmctx_func_ref(f::LOAD));
    s += &format!(".set TABLE0, {}\n", o.vmctx_defined_table(0));
    s += &format!(".set STORE_CTX, {}\n", VMOffsets::vmctx_store_context());
    s += &format!(".set STACK_LIMIT, {STORE_CONTEXT_STACK_LIMIT}\n");
    s += &format!(".set EPOCH_PTR, {}\n", VMOffsets::vmctx_epoch_ptr());
    s += &format!(".set EPOCH_DEADLINE, {STORE_CONTEXT_EPOCH_DEADLINE}\n");
    s += &format!(
        ".set B_GROW, {}\n",
        8 * BuiltinFunctionIndex::memory_grow.index()
    );
    s += &format!(
        ".set B_FILL, {}\n",
        8 * BuiltinFunctionIndex::memory_fill.index()
    );
    s += &format!(
        ".set B_EPOCH, {}\n",
        8 * BuiltinFunctionIndex::out_of_epoch.index()
    );
    s += &format!(".set SLOT, {SLOT}\n.set TRAP_AT, {TRAP_AT}\n");
    s += r#"
    .intel_syntax noprefix
    .text
    .p2align 12
text_start:
# 0: host trampoline for import 0 (called by CALL_HOST with the array convention)
    mov rax, [rdi + 8]
    jmp rax
# 1: load(i32) -> i32
    .org text_start + 1*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    mov rax, [rdi + MEM0]
    mov r8d, [rdx]
    .org text_start + 1*SLOT + TRAP_AT, 0x90
    mov eax, [rax + r8]
    mov [rdx], rax
    pop rbp
    ret
# 2: unreachable
    .org text_start + 2*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    .org text_start + 2*SLOT + TRAP_AT, 0x90
    ud2
# 3: call_host(i32) -> i32: calls import 0 with the same value array
    .org text_start + 3*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    mov rsi, rdi
    mov rax, [rdi + IMP0]
    mov rdi, [rdi + IMP0 + 8]
    call rax
    pop rbp
    ret
# 4: grow(i64) -> i64
    .org text_start + 4*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    push rdx
    push rdx
    mov rax, [rdi]
    mov rdx, [rdx]
    xor esi, esi
    call [rax + B_GROW]
    pop rdx
    pop rdx
    mov [rdx], rax
    pop rbp
    ret
# 5: fill(dst i64, val i32, len i64)
    .org text_start + 5*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    mov rax, [rdi]
    mov r8, [rdx + 32]
    mov ecx, [rdx + 16]
    mov rdx, [rdx]
    xor esi, esi
    call [rax + B_FILL]
    pop rbp
    ret
# 6: recurse with a stack-limit check
    .org text_start + 6*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    mov rax, [rdi + STORE_CTX]
    cmp rsp, [rax + STACK_LIMIT]
    jb 1f
    call text_start + 6*SLOT
    pop rbp
    ret
1:
    .org text_start + 6*SLOT + TRAP_AT, 0x90
    ud2
# 7: recurse without a check (hits the guard page)
    .org text_start + 7*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    sub rsp, 64
    call text_start + 7*SLOT
    add rsp, 64
    pop rbp
    ret
# 8: spin until the epoch deadline
    .org text_start + 8*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    mov rax, [rdi + EPOCH_PTR]
    mov rdx, [rdi + STORE_CTX]
2:
    mov rcx, [rax]
    cmp rcx, [rdx + EPOCH_DEADLINE]
    jb 2b
    mov rax, [rdi]
    call [rax + B_EPOCH]
    ud2
# 9: div(i32, i32) -> i32
    .org text_start + 9*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    mov r9, rdx
    mov eax, [rdx]
    mov ecx, [rdx + 16]
    cdq
    .org text_start + 9*SLOT + TRAP_AT, 0x90
    idiv ecx
    mov [r9], eax
    pop rbp
    ret
# 10: funcref() -> funcref (a reference to `load`)
    .org text_start + 10*SLOT, 0xcc
    lea rax, [rdi + REF_LOAD]
    mov [rdx], rax
    ret
# 11: store(addr i32, val i32)
    .org text_start + 11*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    mov rax, [rdi + MEM0]
    mov r8d, [rdx]
    mov ecx, [rdx + 16]
    .org text_start + 11*SLOT + TRAP_AT, 0x90
    mov [rax + r8], ecx
    pop rbp
    ret
# 12: call_table(index i32, x i32) -> i32: calls table 0's element `index` with `x`
    .org text_start + 12*SLOT, 0xcc
    push rbp
    mov rbp, rsp
    mov rax, [rdi + TABLE0]
    mov r8d, [rdx]
    mov rax, [rax + r8*8]
    mov r9, [rdx + 16]
    mov [rdx], r9
    mov rsi, rdi
    mov rdi, [rax + 16]
    call [rax]
    pop rbp
    ret
    .org text_start + 13*SLOT, 0xcc
text_end:

    .section .rodata
    .p2align 16
data_start:
    .ascii "IMAGE"
    .org data_start + 65536, 0
    .ascii "hello"
    .ascii "...WRONG"
data_end:
"#;
    s += "fingerprint_start:\n";
    s += &format!("    .ascii \"{}\"\n", Fingerprint::of(&md.build).encode());
    s += "fingerprint_end:\n";
    s += "metadata_start:\n";
    for chunk in md.to_bytes().chunks(32) {
        let bytes: Vec<String> = chunk.iter().map(|b| b.to_string()).collect();
        s += &format!("    .byte {}\n", bytes.join(","));
    }
    s += "metadata_end:\n";
    s += r#"
    .section .data.rel.ro, "aw"
    .globl kiln_module_v1
    .type kiln_module_v1, @object
    .p2align 3
kiln_module_v1:
    .ascii "KILN\0MOD"
    .long ABI
    .long 96
    .zero 16
    .quad fingerprint_start
    .quad fingerprint_end - fingerprint_start
    .quad metadata_start
    .quad metadata_end - metadata_start
    .quad text_start
    .quad text_end - text_start
    .quad data_start
    .quad data_end - data_start
    .size kiln_module_v1, 96
    .section .note.GNU-stack, "", @progbits
"#;
    s.replace("ABI", &ABI_VERSION.to_string())
}

/// Assembles and links `asm` into `dir/name.so` with the linker options kiln uses, and seals
/// it (writes its checksum) as the compiler does; returns the path.
pub fn build(dir: &Path, name: &str, asm: &str) -> PathBuf {
    let so = build_unsealed(dir, name, asm);
    let mut bytes = std::fs::read(&so).unwrap();
    kiln_environ::artifact::seal(&mut bytes).expect("the fake module passes the verifier");
    std::fs::write(&so, bytes).unwrap();
    so
}

/// Like [`build`], for deliberately broken modules: sealed when the verifier accepts the
/// file, left unsealed otherwise (the loader then refuses it for the verifier's reason).
pub fn build_broken(dir: &Path, name: &str, asm: &str) -> PathBuf {
    let so = build_unsealed(dir, name, asm);
    let mut bytes = std::fs::read(&so).unwrap();
    if kiln_environ::artifact::seal(&mut bytes).is_ok() {
        std::fs::write(&so, bytes).unwrap();
    }
    so
}

/// Like [`build`], without the checksum (or the verifier's approval).
pub fn build_unsealed(dir: &Path, name: &str, asm: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let src = dir.join(format!("{name}.s"));
    let so = dir.join(format!("{name}.so"));
    std::fs::write(&src, asm).unwrap();
    let out = Command::new("cc")
        .args([
            "-shared",
            "-nostdlib",
            "-Wl,--hash-style=gnu,--build-id=sha1,-z,noexecstack,-z,relro,-z,now,-z,text",
            "-o",
        ])
        .arg(&so)
        .arg(&src)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// A scratch directory for this test binary.
pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-runtime-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Builds the standard fake module.
pub fn fake_module(tag: &str) -> PathBuf {
    let md = metadata();
    build(&scratch(tag), "fake", &assembly(&md))
}
