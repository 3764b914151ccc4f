/* libFuzzer target for the static pipeline: the input is loaded as a runbook, built into a
 * model, graphed and checked (without a catalog), then everything is freed. Diagnostics are
 * rendered to /dev/null (the text and GitHub printers walk source lines and columns) and
 * discarded. Any crash, leak, sanitizer report or timeout is a finding.
 * Build: -DRUNBOOK_FUZZ=ON with CC=clang (tests/fuzz/CMakeLists.txt), or tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runbook/check.h"
#include "runbook/diag.h"
#include "runbook/graph.h"
#include "runbook/model.h"
#include "runbook/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink(void)
{
    static FILE *devnull;
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    return devnull;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rb_diags d;
    rb_diags_init(&d);
    /* The file name matters to one rule (the runbook's name must equal the file's stem). */
    rb_doc *doc = rb_load_buffer("runbooks/fuzz.yaml", (const char *)data, size, &d);
    if (!doc && d.errors == 0)
        abort(); /* a refused file says why */
    if (doc) {
        rb_runbook *rb = rb_model_build(doc, &d); /* takes the doc */
        if (rb) {
            rb_graph g;
            rb_graph_build(rb, &g, &d);
            rb_check(rb, &g, NULL, &d);
            rb_graph_cleanup(&g);
            rb_runbook_free(rb);
        }
    }
    size_t notes = 0;
    for (size_t i = 0; i < d.count; i++) {
        const rb_diag *g = &d.items[i];
        notes += g->sev == RB_SEV_NOTE;
        if (!g->message || (g->line && !g->col))
            abort(); /* columns are 1-based wherever there is a line */
    }
    if (d.count > RB_DIAG_MAX || d.errors + d.warnings + notes < d.count)
        abort(); /* the list is bounded and every stored diagnostic is counted */
    rb_diags_sort(&d);
    rb_diags_print_text(&d, sink(), 1);
    rb_diags_promote_warnings(&d);
    rb_diags_print_github(&d, sink());
    rb_diags_cleanup(&d);
    return 0;
}
