//! The query of `GET /containers/{id}/top`, whose `ps_args` the Engine
//! hands to a `ps` it runs on the host.
//!
//! The Engine keeps the rows whose `PID` column holds one of the
//! container's pids. A format that renames another column `PID`
//! (`-o uid=PID`) makes that filter pass host processes whose uid, elapsed
//! seconds or any other number equals one; `f` makes the Engine run `ps`
//! over every process, and `e` prints environments. The Engine refuses
//! such a rename only after whitespace (`-o uid=PID`, not `-ouid=PID`), so
//! any `=` is refused here: a column format names no column `PID` without
//! one. No grant allows it; the query is read as Go reads it, a repeated
//! or encoded `ps_args` included.

use super::{build_query, Refusal};

/// `GET /containers/{id}/top`.
pub fn judge(query: Option<&str>) -> Result<(), Refusal> {
    let Some(query) = query else {
        return Ok(());
    };
    let pairs = build_query::parse(query)?;
    match pairs.iter().find(|(key, value)| key == "ps_args" && value.contains('=')) {
        Some(_) => Err(Refusal::ambiguous(
            "ps_args may not hold '=': a column renamed PID (-o uid=PID) would make the Engine show host processes as the container's; formats without '=' (-ef, aux, -o pid,comm) pass",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_column_is_refused_however_it_is_written() {
        for query in [
            "ps_args=-ouid=PID,args",
            "ps_args=-o%20uid=PID",
            "ps_args=-Aouid%3DPID,args%20f",
            "ps_args=aux&ps_args=-ouid=PID",
            "ps%5Fargs=-ouid=PID",
            "ps_args=-ef;x=1",
            "ps_args=%zz",
        ] {
            assert!(
                matches!(judge(Some(query)), Err(Refusal::Ambiguous(_))),
                "{query}"
            );
        }
        for query in [
            "ps_args=-ef",
            "ps_args=aux",
            "ps_args=-eo%20pid,comm",
            "x=a=b",
            "",
        ] {
            assert_eq!(judge(Some(query)), Ok(()), "{query}");
        }
        assert_eq!(judge(None), Ok(()));
        // The refusal says what to send instead.
        let refusal = judge(Some("ps_args=-ouid=PID")).unwrap_err().to_string();
        assert!(refusal.contains("ps_args may not hold '='"), "{refusal}");
        assert!(refusal.contains("-o pid,comm"), "{refusal}");
    }
}
