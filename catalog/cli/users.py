"""Commands for lab accounts: ``voxcat user add``, ``token``, ``list`` and ``disable``.

voxcat user add ada --role curator --group tomo --password-stdin < pw.txt
voxcat user token ada          # prints a new API token, once
voxcat user list
voxcat user disable ada
"""

from __future__ import annotations

import argparse
import sys

from .arguments import add_index


def _cmd_add(args: argparse.Namespace) -> int:
    from ..users import add_user

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    user = add_user(
        args.index, args.name, role=args.role, groups=args.group or (), password=password
    )
    groups = ",".join(user.groups) or "-"
    print(f"added {user.name} ({user.role}; groups {groups})")
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    from ..users import create_token

    token = create_token(args.index, args.name)
    print(token)
    print("keep this token: it is shown only once", file=sys.stderr)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from ..users import list_users

    for user in list_users(args.index):
        state = "active" if user.active else f"disabled {user.disabled:%Y-%m-%d}"
        print(f"{user.name}\t{user.role}\t{','.join(user.groups) or '-'}\t{state}")
    return 0


def _cmd_disable(args: argparse.Namespace) -> int:
    from ..users import disable_user

    disable_user(args.index, args.name)
    print(f"disabled {args.name}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``user add|token|list|disable`` on the main parser."""
    from ..users import ROLES

    user = sub.add_parser("user", help="lab accounts: add, token, list, disable")
    users = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)

    p = users.add_parser("add", help="create an account")
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, default="viewer")
    p.add_argument(
        "--group", "-g", action="append", help="a group (repeatable): collaborator:GROUP data"
    )
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    add_index(p)
    p.set_defaults(func=_cmd_add)

    p = users.add_parser("token", help="create an API token (printed once)")
    p.add_argument("name")
    add_index(p)
    p.set_defaults(func=_cmd_token)

    p = users.add_parser("list", help="list accounts")
    add_index(p)
    p.set_defaults(func=_cmd_list)

    p = users.add_parser("disable", help="disable an account and delete its tokens")
    p.add_argument("name")
    add_index(p)
    p.set_defaults(func=_cmd_disable)
