//! Writing to stdout and stderr, where the reader may go away
//! (`status | head -1`, `get APP 2>&1 | head -1`).

use std::io::{self, Write};

use super::{EXIT_FAILURE, EXIT_OK};

/// Prints one line on stderr. A closed or failing stderr is ignored:
/// `eprintln!` would panic, and the process would exit 101, a code the
/// README's table does not have, instead of the command's own.
macro_rules! tell {
    ($($arg:tt)*) => {
        $crate::cli::output::to_stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use tell;

/// Writes `text` to stdout and flushes it. A closed pipe is no failure (the
/// reader took what it wanted, as `head` does): exit 0, quietly. Any other
/// error is reported on stderr, with exit 3.
pub fn write_stdout(text: &str) -> u8 {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            tell!("fly-tokens: cannot write to stdout: {e}");
            EXIT_FAILURE
        }
    }
}

/// Prints one line of the demo's narration; a closed pipe or any other
/// error is ignored (`println!` would panic), and the demo runs to its end.
macro_rules! say {
    () => {
        $crate::cli::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// The function behind [`say!`].
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
}

/// Writes `text` to stderr as it is; any error is ignored (see [`tell!`]).
pub fn to_stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}
