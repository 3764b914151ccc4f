/* The benchmark's floor: pull libyaml's events from each file named on the command line, until
 * STREAM_END, and nothing else. `runbook validate` has to do at least this much work.
 *
 * build: cc -O2 -o yaml_events bench/yaml_events.c $(pkg-config --cflags --libs yaml-0.1) */
#include <stdio.h>
#include <yaml.h>

int main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            rc = 1;
            continue;
        }
        yaml_parser_t p;
        if (!yaml_parser_initialize(&p)) {
            fprintf(stderr, "yaml_events: out of memory\n");
            fclose(f);
            return 1;
        }
        yaml_parser_set_input_file(&p, f);
        for (;;) {
            yaml_event_t ev;
            if (!yaml_parser_parse(&p, &ev)) {
                fprintf(stderr, "%s: %s\n", argv[i], p.problem ? p.problem : "parse error");
                rc = 1;
                break;
            }
            int done = ev.type == YAML_STREAM_END_EVENT;
            yaml_event_delete(&ev);
            if (done)
                break;
        }
        yaml_parser_delete(&p);
        fclose(f);
    }
    return rc;
}
