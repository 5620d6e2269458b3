//! `report`: rewrite the report files from the queue, or print one rendering.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::{ReportArgs, ReportFormat};
use crate::config::queue_location;
use crate::error::{Error, Outcome};
use crate::queue::QueueLock;
use crate::{queue, report};

/// `report`: rewrite the files, or print one rendering. With `-q`, rewriting the files prints
/// nothing.
pub(super) fn report(args: &ReportArgs, quiet: bool) -> Result<Outcome, Error> {
    let (db, default_out) = queue_location(&args.queue)?;
    // Rewriting the files is writing what a run writes: only with the queue's lock. Printing
    // is reading, which WAL allows beside a run.
    let _lock = match args.format {
        None if db.is_file() => Some(QueueLock::acquire(&db).map_err(|e| match Error::from(e) {
            Error::Locked(path) => Error::Busy {
                path,
                hint: "it rewrites report.json and report.csv when it ends; `report --format json|csv|md` prints the report now",
            },
            other => other,
        })?),
        _ => None,
    };
    let conn = queue::open_read_only(&db)?;
    let report = report::build(&conn)?;
    let printed =
        |e: report::ReportError| Error::Other(anyhow::anyhow!("cannot print the report: {e}"));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Some(ReportFormat::Json) => {
            let mut json =
                report::JsonWriter::begin(&mut out, &report).map_err(|e| printed(e.into()))?;
            report::each_item(&conn, |item| json.item(item)).map_err(printed)?;
            json.end().map_err(|e| printed(e.into()))?;
        }
        Some(ReportFormat::Md) => {
            out.write_all(report::markdown_head(&report).as_bytes())
                .map_err(|e| printed(e.into()))?;
            report::each_item(&conn, |item| {
                out.write_all(report::markdown_row(item).as_bytes())
            })
            .map_err(printed)?;
        }
        Some(ReportFormat::Csv) => {
            let mut csv = report::CsvWriter::begin(&mut out).map_err(|e| printed(e.into()))?;
            report::each_item(&conn, |item| csv.item(item)).map_err(printed)?;
            csv.end().map_err(|e| printed(e.into()))?;
        }
        None => {
            let out = if report.out.is_empty() {
                default_out
            } else {
                PathBuf::from(&report.out)
            };
            report::write_files(&conn, &report, &out).map_err(|e| {
                Error::Other(anyhow::anyhow!(
                    "{}: cannot write the report: {e}",
                    out.display()
                ))
            })?;
            if !quiet {
                println!(
                    "wrote {} and {}",
                    out.join("report.json").display(),
                    out.join("report.csv").display()
                );
            }
        }
    }
    out.flush().map_err(|e| printed(e.into()))?;
    Ok(Outcome::Done)
}
