//! One output stream of the CLI, read to its end but kept only up to a cap.

use tokio::io::{AsyncRead, AsyncReadExt};

/// One output stream: the first `limit` bytes kept, the rest counted and
/// dropped.
pub(super) struct Capped {
    buf: Vec<u8>,
    limit: usize,
    pub(super) seen: usize,
}

impl Capped {
    pub(super) fn new(limit: usize) -> Self {
        Capped {
            buf: Vec::new(),
            limit,
            seen: 0,
        }
    }

    /// Reads `r` to its end. A read error ends the stream (what was read is
    /// kept): the exit status, not a broken pipe, decides the outcome.
    pub(super) async fn fill(&mut self, r: Option<impl AsyncRead + Unpin>) {
        let Some(mut r) = r else { return };
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    self.seen += n;
                    let room = self.limit.saturating_sub(self.buf.len());
                    self.buf.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    }

    pub(super) fn overflowed(&self) -> bool {
        self.seen > self.limit
    }

    pub(super) fn into_string(self) -> String {
        let truncated = self.overflowed();
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if truncated {
            s.push_str("…[truncated]");
        }
        s
    }
}
