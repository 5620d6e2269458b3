//! What `run -q` prints, for cron (which mails whatever a job prints) and scripts: nothing when
//! every item is done; otherwise one line on stderr per item that is failed at the end of the
//! run, `failed: KEY: ERROR`, in manifest order, and for a run that stopped early one last
//! line, the reason (`stopped by a signal`, `stopped: the API refused ...`). Nothing else: no log lines, no progress, no summary. So the lines
//! explain the exit status: 0 and silent; 1 and one line per failed item (failed in this run
//! or an earlier one: they stay failed until `retry`); 3 and the reason last.

use std::io::Write;

use rusqlite::Connection;

use crate::error::Outcome;
use crate::queue;

/// Prints the failures of a finished run (see the module's documentation).
pub fn print_failures(conn: &Connection, outcome: &Outcome) -> Result<(), queue::QueueError> {
    let mut err = std::io::stderr().lock();
    let mut written = Ok(());
    queue::each_failed_item(conn, |key, error| {
        if written.is_ok() {
            written = writeln!(err, "failed: {}: {}", one_line(key), one_line(error));
        }
    })?;
    if let Outcome::Stopped(reason) = outcome {
        // Each reason reads "stopped ...".
        written = written.and_then(|()| writeln!(err, "{}", one_line(&reason.to_string())));
    }
    // A closed stderr is no reason to fail a run whose work is done and recorded.
    drop(written);
    Ok(())
}

/// `text` on one line: control characters (a newline in a key or a server's message) escaped.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_line_stays_one_line() {
        assert_eq!(one_line("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(one_line("plain: text"), "plain: text");
    }
}
