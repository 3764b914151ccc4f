#!/usr/bin/python3
"""The Python baseline: yaml.safe_load plus jsonschema's Draft202012Validator with the project's
schema, over every file named on the command line. Exits 1 if any file fails the schema.

Run it with Debian's interpreter (/usr/bin/python3, with python3-yaml and python3-jsonschema).
yaml.safe_load is PyYAML's pure-Python SafeLoader, as a user who writes `yaml.safe_load` gets;
the validator is built once and reused for every file.

usage: py_validate.py SCHEMA FILE...
"""
import json
import sys

import jsonschema
import yaml


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    for path in argv[2:]:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        errors = list(validator.iter_errors(doc))
        if errors:
            bad += 1
            for e in errors[:5]:
                sys.stderr.write("%s: %s at %s\n" % (path, e.message, "/".join(map(str, e.absolute_path))))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
