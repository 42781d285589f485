//! A component-model async guest (wit-bindgen's async support): `double` returns at once,
//! `sum-stream` spawns a task that writes `n` bytes into a `stream<u8>` in 4 KiB chunks while
//! the export reads them back and sums them, and `numbers` returns a stream to its caller
//! that a spawned task fills, `sum-bytes` sums the bytes of a stream its caller writes, and
//! `words` returns a list of strings (which wit-bindgen frees right after `task.return`).

wit_bindgen::generate!({
    inline: r#"
        package kiln:async-guest;
        world guest {
            export sum-stream: async func(n: u32) -> u64;
            export double: async func(x: u32) -> u32;
            export numbers: async func(n: u32) -> stream<u8>;
            export sum-bytes: async func(s: stream<u8>) -> u64;
            export words: async func(n: u32) -> list<string>;
        }
    "#,
});

struct AsyncGuest;

/// Word `i` of `words`.
fn word(i: u32) -> String {
    format!("word-{i}-{}", "x".repeat(i as usize % 7))
}

/// Byte `i` of every 4 KiB chunk `sum-stream` writes.
fn byte(i: usize) -> u8 {
    (i % 251) as u8
}

impl Guest for AsyncGuest {
    async fn sum_stream(n: u32) -> u64 {
        let (mut tx, mut rx) = wit_stream::new::<u8>();
        wit_bindgen::spawn_local(async move {
            let mut left = n as usize;
            while left > 0 {
                let chunk = left.min(4096);
                let rest = tx.write_all((0..chunk).map(byte).collect()).await;
                assert!(rest.is_empty(), "the reader went away");
                left -= chunk;
            }
        });
        let mut total = 0u64;
        loop {
            let (status, buf) = rx.read(Vec::with_capacity(1024)).await;
            total += buf.iter().map(|b| u64::from(*b)).sum::<u64>();
            if matches!(status, wit_bindgen::StreamResult::Dropped) {
                break;
            }
        }
        total
    }

    async fn double(x: u32) -> u32 {
        x * 2
    }

    async fn numbers(n: u32) -> wit_bindgen::StreamReader<u8> {
        let (mut tx, rx) = wit_stream::new::<u8>();
        wit_bindgen::spawn_local(async move {
            let _ = tx.write_all((0..n).map(|i| i as u8).collect()).await;
        });
        rx
    }

    async fn words(n: u32) -> Vec<String> {
        (0..n).map(word).collect()
    }

    async fn sum_bytes(mut s: wit_bindgen::StreamReader<u8>) -> u64 {
        let mut total = 0u64;
        loop {
            let (status, buf) = s.read(Vec::with_capacity(16 << 10)).await;
            total += buf.iter().map(|b| u64::from(*b)).sum::<u64>();
            if matches!(status, wit_bindgen::StreamResult::Dropped) {
                break;
            }
        }
        total
    }
}

export!(AsyncGuest);
