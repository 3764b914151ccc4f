/* report --format html: one self-contained page. */
#include "report.h"
void rep_write_html(FILE *f, const rep_report *r) { (void)f; (void)r; }
