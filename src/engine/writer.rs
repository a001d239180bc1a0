//! Transcript files, written off the runtime: one thread appends lines in the order the call
//! table produced them, and says when a file cannot be written. Lines are appended as they
//! become ready (short, rare, and safe if the process dies later).

use super::Log;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

pub struct TranscriptWriter {
    lines: Option<mpsc::Sender<(PathBuf, String)>>,
    thread: Option<JoinHandle<()>>,
}

impl TranscriptWriter {
    pub fn start(log: Log) -> TranscriptWriter {
        let (tx, rx) = mpsc::channel::<(PathBuf, String)>();
        let thread = std::thread::Builder::new()
            .name("sipterm-transcripts".into())
            .spawn(move || {
                for (path, text) in rx {
                    let result = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .and_then(|mut f| f.write_all(text.as_bytes()));
                    if let Err(e) = result {
                        log.warn(format!("cannot write {}: {e}", path.display()));
                    }
                }
            })
            .ok();
        TranscriptWriter {
            lines: Some(tx),
            thread,
        }
    }

    pub fn append(&self, path: PathBuf, text: String) {
        if let Some(lines) = &self.lines {
            let _ = lines.send((path, text));
        }
    }

    /// Writes what is queued and stops the thread (on the blocking pool: it may be mid-write).
    pub async fn finish(mut self) {
        drop(self.lines.take());
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}
