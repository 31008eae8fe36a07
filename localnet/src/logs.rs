//! Transaction logs as a validator writes them.
//!
//! The Kassa programs run as natively compiled builtins, and solana-program-test's glue for those
//! writes log lines of its own beside the runtime's: a second `invoke [n]` and a second
//! `success` (or `failed`) for each Kassa instruction, and, for each CPI a Kassa program makes,
//! an `invoke` line at the caller's depth just before the runtime's own at the callee's. What a
//! validator running the SBF builds writes is the runtime's lines alone, so the glue's are
//! dropped here; every other line (the SPL programs' `Program log:`, `consumed`, return data)
//! passes through unchanged.

use kassa_sdk::programs::KassaProgram;

fn is_kassa(program: &str) -> bool {
    KassaProgram::ALL
        .iter()
        .any(|p| p.id().to_string() == program)
}

/// `Program <id> invoke [<depth>]` as (id, depth).
fn invoke(line: &str) -> Option<(&str, usize)> {
    let rest = line.strip_prefix("Program ")?;
    let (program, depth) = rest.split_once(" invoke [")?;
    let depth = depth.strip_suffix(']')?.parse().ok()?;
    Some((program, depth))
}

/// `Program <id> success` or `Program <id> failed: …` as the id.
fn outcome(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("Program ")?;
    rest.strip_suffix(" success")
        .or_else(|| rest.split_once(" failed: ").map(|(p, _)| p))
        .filter(|p| !p.contains(' '))
}

/// An open invocation while the lines are read.
struct Frame {
    program: String,
    depth: usize,
    /// A Kassa builtin: the glue repeats its `invoke` and writes its outcome before the
    /// runtime's.
    native: bool,
    glue_invoke_seen: bool,
    glue_outcome_seen: bool,
    /// Invoked by a Kassa builtin through the CPI glue, which writes `success` after it.
    via_glue: bool,
}

/// The runtime's log lines of a transaction, without solana-program-test's glue lines.
///
/// The glue writes, for a Kassa program P invoked at depth d: the runtime's `P invoke [d]`,
/// then its own `P invoke [d]`; at the end its own outcome line, then the runtime's. For a CPI
/// from a Kassa program at depth d to C: its own `C invoke [d]` before the runtime's
/// `C invoke [d+1]`, and (when C succeeded) its own `C success` after the runtime's.
pub fn as_validator(lines: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut next_via_glue = false;
    // The program whose glue `success` line follows the runtime's.
    let mut glue_success: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).map(String::as_str);
        if let Some(program) = glue_success.take() {
            if outcome(line) == Some(program.as_str()) && line.ends_with(" success") {
                continue;
            }
        }
        if let Some((program, depth)) = invoke(line) {
            let top = stack.last_mut();
            match top {
                Some(f)
                    if f.native
                        && depth == f.depth
                        && next.and_then(invoke) == Some((program, depth + 1)) =>
                {
                    next_via_glue = true;
                    continue;
                }
                Some(f)
                    if f.native
                        && !f.glue_invoke_seen
                        && f.program == program
                        && f.depth == depth =>
                {
                    f.glue_invoke_seen = true;
                    continue;
                }
                _ => {}
            }
            stack.push(Frame {
                program: program.to_string(),
                depth,
                native: is_kassa(program),
                glue_invoke_seen: false,
                glue_outcome_seen: false,
                via_glue: std::mem::take(&mut next_via_glue),
            });
            out.push(line.clone());
            continue;
        }
        if let Some(program) = outcome(line) {
            if let Some(top) = stack.last_mut() {
                if top.program == program {
                    // A Kassa program's glue outcome comes right before the runtime's.
                    if top.native && !top.glue_outcome_seen && next == Some(line.as_str()) {
                        top.glue_outcome_seen = true;
                        continue;
                    }
                    let frame = stack.pop().expect("a frame");
                    if frame.via_glue && line.ends_with(" success") {
                        glue_success = Some(frame.program);
                    }
                }
            }
        }
        out.push(line.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_kassa_instruction_with_a_cpi_logs_as_on_a_validator() {
        let k = KassaProgram::Payments.id().to_string();
        let sys = "11111111111111111111111111111111";
        let raw = lines(&[
            &format!("Program {k} invoke [1]"),
            &format!("Program {k} invoke [1]"),
            &format!("Program {sys} invoke [1]"),
            &format!("Program {sys} invoke [2]"),
            &format!("Program {sys} success"),
            &format!("Program {sys} success"),
            // emit_cpi!: the program invokes itself.
            &format!("Program {k} invoke [1]"),
            &format!("Program {k} invoke [2]"),
            &format!("Program {k} invoke [2]"),
            &format!("Program {k} success"),
            &format!("Program {k} success"),
            &format!("Program {k} success"),
            &format!("Program {k} success"),
            &format!("Program {k} success"),
            "Program ComputeBudget111111111111111111111111111111 invoke [1]",
            "Program ComputeBudget111111111111111111111111111111 success",
        ]);
        assert_eq!(
            as_validator(raw),
            lines(&[
                &format!("Program {k} invoke [1]"),
                &format!("Program {sys} invoke [2]"),
                &format!("Program {sys} success"),
                &format!("Program {k} invoke [2]"),
                &format!("Program {k} success"),
                &format!("Program {k} success"),
                "Program ComputeBudget111111111111111111111111111111 invoke [1]",
                "Program ComputeBudget111111111111111111111111111111 success",
            ])
        );
    }

    #[test]
    fn a_failing_kassa_instruction_fails_once_and_other_programs_are_untouched() {
        let k = KassaProgram::Credit.id().to_string();
        let token = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
        let raw = lines(&[
            &format!("Program {token} invoke [1]"),
            "Program log: Instruction: Transfer",
            &format!("Program {token} consumed 4645 of 200000 compute units"),
            &format!("Program {token} success"),
            &format!("Program {k} invoke [1]"),
            &format!("Program {k} invoke [1]"),
            &format!("Program {k} failed: custom program error: 0x1771"),
            &format!("Program {k} failed: custom program error: 0x1771"),
        ]);
        assert_eq!(
            as_validator(raw),
            lines(&[
                &format!("Program {token} invoke [1]"),
                "Program log: Instruction: Transfer",
                &format!("Program {token} consumed 4645 of 200000 compute units"),
                &format!("Program {token} success"),
                &format!("Program {k} invoke [1]"),
                &format!("Program {k} failed: custom program error: 0x1771"),
            ])
        );
    }
}
