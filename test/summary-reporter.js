// Prints the plain closing line the CI reader understands ("N passed, N failed"), and, when
// LB_TEST_SUMMARY_FILE is set, appends the counts there so .ci/run can add up several runs.
const fs = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const passed = results.numPassedTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    const file = process.env.LB_TEST_SUMMARY_FILE;
    if (file) fs.appendFileSync(file, `${passed} ${failed} ${skipped}\n`);
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`);
  }
}

module.exports = SummaryReporter;
