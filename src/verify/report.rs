//! Reports of a verify run: a table for people, JSON for scripts, JUnit XML for CI.

use std::time::Duration;

use comfy_table::Table;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::Report;

/// The table: expectation, matched, result, reason (with the closest candidates).
pub fn table(report: &Report, mut table: Table) -> Table {
    for v in &report.verdicts {
        let found = v.found.unwrap_or(v.matched.len());
        let matched = format!("{found} (want {})", v.expected);
        let result = if v.passed { "pass" } else { "FAIL" };
        let mut reason = v.reasons.join("\n");
        if !v.closest.is_empty() {
            reason.push_str("\nclosest:\n  ");
            reason.push_str(&v.closest.join("\n  "));
        }
        for (k, value) in &v.extracted {
            if !reason.is_empty() {
                reason.push('\n');
            }
            reason.push_str(&format!("{k} = {value}"));
        }
        table.add_row(vec![v.name.clone(), matched, result.to_owned(), reason]);
    }
    table
}

/// One line a person reads after the table.
pub fn summary(report: &Report) -> String {
    let failed = report.verdicts.iter().filter(|v| !v.passed).count();
    format!(
        "{} of {} expectations hold ({failed} failed), {} messages looked at, {:.1} s",
        report.verdicts.len() - failed,
        report.verdicts.len(),
        report.messages,
        report.elapsed_ms as f64 / 1000.0
    )
}

/// JUnit XML: one test suite for the file, one test case per expectation.
pub fn junit(report: &Report, suite_name: &str) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new("mailtest verify");
    let mut suite = TestSuite::new(suite_name);
    for v in &report.verdicts {
        let status = if v.passed {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(v.reasons.first().cloned().unwrap_or_default());
            let mut details = v.reasons.join("\n");
            if !v.closest.is_empty() {
                details.push_str("\nclosest candidates:\n");
                details.push_str(&v.closest.join("\n"));
            }
            status.set_description(details);
            status
        };
        let mut case = TestCase::new(v.name.clone(), status);
        case.set_classname(suite_name.to_owned());
        if !v.extracted.is_empty() {
            let lines: Vec<String> = v
                .extracted
                .iter()
                .map(|(k, x)| format!("{k}={x}"))
                .collect();
            case.set_system_out(lines.join("\n"));
        }
        suite.add_test_case(case);
    }
    suite.set_time(Duration::from_millis(report.elapsed_ms));
    junit.add_test_suite(suite);
    junit.to_string()
}
