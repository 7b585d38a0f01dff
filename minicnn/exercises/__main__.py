"""``python -m minicnn.exercises list | start NAME | check NAME | solution NAME``."""
import argparse
import sys

from minicnn.exercises.course import check, exercise, progress, solution, start
from minicnn.exercises.workspace import DEFAULT_DIR, ExerciseError


def build_parser():
    p = argparse.ArgumentParser(prog="python -m minicnn.exercises",
                                description="Learn backprop by writing it: each op's backward pass as an exercise, "
                                            "graded by minicnn's own gradient checks.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{list,start,check,solution}")
    folder = dict(default=DEFAULT_DIR, help="the folder of your exercise files (default: %(default)s)")
    listing = verbs.add_parser("list", help="every exercise, its difficulty, and whether it is started or passed")
    listing.add_argument("--dir", **folder)
    begin = verbs.add_parser("start", help="write DIR/NAME.py: the code with the part to write left out")
    begin.add_argument("name")
    begin.add_argument("--dir", **folder)
    begin.add_argument("--force", action="store_true", help="overwrite your file with a fresh stub")
    grade = verbs.add_parser("check", help="grade DIR/NAME.py (exit 0 when it passes, 1 otherwise)")
    grade.add_argument("name")
    grade.add_argument("--dir", **folder)
    show = verbs.add_parser("solution", help="print the reference, after you have tried (needs --reveal)")
    show.add_argument("name")
    show.add_argument("--dir", **folder)
    show.add_argument("--reveal", action="store_true", help="yes, show it")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.verb == "list":
            for ex, status in progress(args.dir):
                print(f"{ex.name:<14} {ex.level:<7} {', '.join(ex.blank):<44} {status}")
        elif args.verb == "start":
            path = start(args.name, args.dir, args.force)
            where = "" if args.dir == DEFAULT_DIR else f" --dir {args.dir}"
            print(f"wrote {path}: {exercise(args.name).title} there, then run "
                  f"python -m minicnn.exercises check {args.name}{where}")
        elif args.verb == "check":
            report = check(args.name, args.dir)
            print(report)
            return 0 if report.passed else 1
        else:
            print(solution(args.name, args.dir, args.reveal), end="")
    except ExerciseError as e:
        print(f"minicnn exercises: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
