"""The SQL that SelectObject accepts, parsed into frozen dataclasses.

OSS's subset: `SELECT <list> FROM ossobject[<json path>] [alias] [WHERE <expr>]
[LIMIT n]`. The select list holds `*`, columns (`_1`, `name`, `a.b[0]`), CAST of
one and aggregates (AVG, SUM, MAX, MIN, COUNT); WHERE holds comparisons, AND/OR/NOT,
LIKE, IS [NOT] NULL, [NOT] IN, [NOT] BETWEEN, arithmetic, `||` and CAST. Everything
else (joins, GROUP BY, ORDER BY, other functions, an aggregate in WHERE) is refused
with a SqlError that names it. Plain Python: no Django here.
"""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_SQL_CHARS = 16 * 1024
MAX_IN_VALUES = 1024  # OSS's limit on an IN list
MAX_LIMIT = 10**18
AGGREGATES = frozenset({"avg", "sum", "max", "min", "count"})
CAST_TYPES = {
    "int": "int",
    "integer": "int",
    "bigint": "int",
    "double": "double",
    "float": "double",
    "decimal": "decimal",
    "string": "string",
    "varchar": "string",
    "bool": "bool",
    "boolean": "bool",
}
SOURCES = frozenset({"ossobject", "s3object"})
# Clauses and words a client may try that this subset does not have.
UNSUPPORTED_CLAUSES = {
    "group": "GROUP BY",
    "order": "ORDER BY",
    "having": "HAVING",
    "join": "JOIN",
    "union": "UNION",
    "distinct": "DISTINCT",
    "offset": "OFFSET",
}
KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "limit",
        "as",
        "and",
        "or",
        "not",
        "like",
        "is",
        "null",
        "in",
        "between",
        "true",
        "false",
        "cast",
        "on",
        "escape",
        *UNSUPPORTED_CLAUSES,
    }
)


class SqlError(ValueError):
    """The expression is not one this server can run; the message says why."""


# -- the tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: object  # None, bool, int, Decimal or str


@dataclass(frozen=True)
class Column:
    """`_3`, `name` or a JSON path such as `person.names[0]` (names and int indexes)."""

    path: tuple

    @property
    def position(self):
        """The 1-based column number `_N` names, else None."""
        if len(self.path) == 1 and isinstance(self.path[0], str):
            match = re.fullmatch(r"_([0-9]{1,6})", self.path[0])
            if match and int(match.group(1)) > 0:
                return int(match.group(1))
        return None


@dataclass(frozen=True)
class Unary:
    op: str  # "not" or "-"
    operand: object


@dataclass(frozen=True)
class Binary:
    op: str  # and or = != < <= > >= + - * / % ||
    left: object
    right: object


@dataclass(frozen=True)
class Like:
    operand: object
    pattern: str
    negated: bool


@dataclass(frozen=True)
class IsNull:
    operand: object
    negated: bool


@dataclass(frozen=True)
class In:
    operand: object
    values: tuple
    negated: bool


@dataclass(frozen=True)
class Between:
    operand: object
    low: object
    high: object
    negated: bool


@dataclass(frozen=True)
class Cast:
    operand: object
    type: str  # a CAST_TYPES value


@dataclass(frozen=True)
class Aggregate:
    name: str  # an AGGREGATES member
    operand: object  # None for COUNT(*)


@dataclass(frozen=True)
class SelectItem:
    expr: object
    alias: str | None


@dataclass(frozen=True)
class Query:
    items: tuple  # of SelectItem; empty for SELECT *
    source_path: tuple  # the JSON path after ossobject: names, ints and "*"
    alias: str | None  # FROM ossobject s: then `s.col` names `col`
    where: object
    limit: int | None

    @property
    def is_star(self):
        return not self.items

    @property
    def is_aggregate(self):
        return any(isinstance(item.expr, Aggregate) for item in self.items)


# -- tokens --------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")+")
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|\|\||[-+*/%=<>(),.\[\];])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, end
    text: str
    at: int


def tokenize(sql):
    tokens = []
    position = 0
    while position < len(sql):
        match = _TOKEN_RE.match(sql, position)
        if match is None:
            raise SqlError(f"Unexpected character {sql[position]!r} at {position}.")
        kind, text = match.lastgroup, match.group()
        if kind == "word":
            kind = "keyword" if text.lower() in KEYWORDS else "name"
            text = text.lower() if kind == "keyword" else text
        elif kind == "quoted":
            kind, text = "name", text[1:-1].replace('""', '"')
        if kind != "space":
            tokens.append(Token(kind, text, position))
        position = match.end()
    tokens.append(Token("end", "", position))
    return tokens


# -- the parser ----------------------------------------------------------------------


def parse(sql):
    """The Query `sql` says, or SqlError naming what is wrong or unsupported."""
    if not sql.strip():
        raise SqlError("The SQL expression is empty.")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlError(f"The SQL expression is longer than {MAX_SQL_CHARS} characters.")
    try:
        query = _Parser(tokenize(sql)).query()
        _check(query)
    except RecursionError:
        raise SqlError("The SQL expression is nested too deeply.") from None
    return query


class _Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.index = 0

    # token helpers
    @property
    def token(self):
        return self.tokens[self.index]

    def advance(self):
        token = self.token
        self.index += 1
        return token

    def at(self, kind, text=None):
        token = self.token
        return token.kind == kind and (text is None or token.text == text)

    def accept(self, kind, text=None):
        if self.at(kind, text):
            return self.advance()
        return None

    def expect(self, kind, text=None):
        if not self.at(kind, text):
            raise self.unexpected(text or kind)
        return self.advance()

    def unexpected(self, wanted=None):
        token = self.token
        if token.kind == "keyword" and token.text in UNSUPPORTED_CLAUSES:
            return SqlError(f"{UNSUPPORTED_CLAUSES[token.text]} is not supported.")
        found = "the end" if token.kind == "end" else repr(token.text)
        want = f": expected {wanted}" if wanted else ""
        return SqlError(f"Unexpected {found} at {token.at}{want}.")

    # statement
    def query(self):
        self.expect("keyword", "select")
        if self.at("keyword", "distinct"):
            raise self.unexpected()
        items = () if self.accept("op", "*") else self.select_list()
        if not items and self.at("op", ","):
            raise SqlError("* cannot be combined with other select items.")
        self.expect("keyword", "from")
        source_path = self.source()
        where = self.expr() if self.accept("keyword", "where") else None
        limit = self.limit() if self.accept("keyword", "limit") else None
        self.accept("op", ";")
        if not self.at("end"):
            raise self.unexpected()
        return Query(
            items=items,
            source_path=source_path,
            alias=self.alias,
            where=where,
            limit=limit,
        )

    def select_list(self):
        items = [self.select_item()]
        while self.accept("op", ","):
            items.append(self.select_item())
        return tuple(items)

    def select_item(self):
        if self.at("op", "*"):
            raise SqlError("* cannot be combined with other select items.")
        expr = self.expr()
        alias = None
        if self.accept("keyword", "as"):
            alias = self.expect("name").text
        elif self.at("name"):
            alias = self.advance().text
        return SelectItem(expr, alias)

    def source(self):
        name = self.expect("name")
        if name.text.lower() not in SOURCES:
            raise SqlError(f"FROM must name ossobject, not {name.text!r}.")
        path = []
        while True:
            if self.accept("op", "."):
                path.append(self.expect("name").text)
            elif self.accept("op", "["):
                path.append("*" if self.accept("op", "*") else self.index_number())
                self.expect("op", "]")
            else:
                break
        # A table alias (`FROM ossobject s`): columns may then be written `s.col`.
        self.alias = None
        if self.accept("keyword", "as"):
            self.alias = self.expect("name").text
        elif self.at("name"):
            self.alias = self.advance().text
        return tuple(path)

    def limit(self):
        token = self.expect("number")
        if not re.fullmatch(r"[0-9]{1,18}", token.text):
            raise SqlError(f"LIMIT must be a whole number, not {token.text}.")
        return int(token.text)

    def index_number(self):
        token = self.expect("number")
        if not re.fullmatch(r"[0-9]{1,9}", token.text):
            raise SqlError(f"An array index must be a whole number, not {token.text}.")
        return int(token.text)

    # expressions, loosest first
    def expr(self):
        left = self.and_expr()
        while self.accept("keyword", "or"):
            left = Binary("or", left, self.and_expr())
        return left

    def and_expr(self):
        left = self.not_expr()
        while self.accept("keyword", "and"):
            left = Binary("and", left, self.not_expr())
        return left

    def not_expr(self):
        if self.accept("keyword", "not"):
            return Unary("not", self.not_expr())
        return self.predicate()

    def predicate(self):
        left = self.concat()
        if self.at("op") and self.token.text in ("=", "!=", "<>", "<", "<=", ">", ">="):
            op = self.advance().text
            return Binary("!=" if op == "<>" else op, left, self.concat())
        if self.accept("keyword", "is"):
            negated = bool(self.accept("keyword", "not"))
            self.expect("keyword", "null")
            return IsNull(left, negated)
        negated = bool(self.accept("keyword", "not"))
        if self.accept("keyword", "like"):
            pattern = self.expect("string")
            if self.at("keyword", "escape"):
                raise SqlError("LIKE ... ESCAPE is not supported.")
            return Like(left, _string_value(pattern.text), negated)
        if self.accept("keyword", "in"):
            return In(left, self.in_values(), negated)
        if self.accept("keyword", "between"):
            low = self.concat()
            self.expect("keyword", "and")
            return Between(left, low, self.concat(), negated)
        if negated:
            raise self.unexpected("LIKE, IN or BETWEEN")
        return left

    def in_values(self):
        self.expect("op", "(")
        values = [self.literal_value()]
        while self.accept("op", ","):
            values.append(self.literal_value())
        self.expect("op", ")")
        if len(values) > MAX_IN_VALUES:
            raise SqlError(f"IN holds at most {MAX_IN_VALUES} values.")
        return tuple(values)

    def literal_value(self):
        negative = bool(self.accept("op", "-"))
        expr = self.primary()
        if not isinstance(expr, Literal) or (negative and not _is_number(expr.value)):
            raise SqlError("IN lists hold literal values only.")
        return Literal(-expr.value) if negative else expr

    def concat(self):
        left = self.additive()
        while self.accept("op", "||"):
            left = Binary("||", left, self.additive())
        return left

    def additive(self):
        left = self.term()
        while self.at("op") and self.token.text in ("+", "-"):
            left = Binary(self.advance().text, left, self.term())
        return left

    def term(self):
        left = self.unary()
        while self.at("op") and self.token.text in ("*", "/", "%"):
            left = Binary(self.advance().text, left, self.unary())
        return left

    def unary(self):
        if self.accept("op", "-"):
            return Unary("-", self.unary())
        if self.accept("op", "+"):
            return self.unary()
        return self.primary()

    def primary(self):
        token = self.token
        if self.accept("op", "("):
            inner = self.expr()
            self.expect("op", ")")
            return inner
        if token.kind == "number":
            self.advance()
            return Literal(_number_value(token.text))
        if token.kind == "string":
            self.advance()
            return Literal(_string_value(token.text))
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            self.advance()
            return Literal({"true": True, "false": False, "null": None}[token.text])
        if self.accept("keyword", "cast"):
            return self.cast()
        if token.kind == "name":
            self.advance()
            if self.at("op", "("):
                return self.call(token.text)
            return self.column(token.text)
        raise self.unexpected("a value")

    def cast(self):
        self.expect("op", "(")
        operand = self.expr()
        self.expect("keyword", "as")
        type_token = self.expect("name")
        type_name = CAST_TYPES.get(type_token.text.lower())
        if type_name is None:
            raise SqlError(f"CAST to {type_token.text} is not supported.")
        self.expect("op", ")")
        return Cast(operand, type_name)

    def call(self, name):
        self.expect("op", "(")
        if name.lower() not in AGGREGATES:
            raise SqlError(f"The function {name} is not supported.")
        if self.accept("op", "*"):
            if name.lower() != "count":
                raise SqlError(f"{name.upper()}(*) is not supported; only COUNT(*).")
            operand = None
        else:
            operand = self.expr()
        self.expect("op", ")")
        return Aggregate(name.lower(), operand)

    def column(self, first):
        path = [first]
        while True:
            if self.accept("op", "."):
                path.append(self.expect("name").text)
            elif self.accept("op", "["):
                path.append(self.index_number())
                self.expect("op", "]")
            else:
                break
        return Column(tuple(path))


def _string_value(text):
    return text[1:-1].replace("''", "'")


def _number_value(text):
    exponent = re.search(r"[eE][+-]?([0-9]+)", text)
    if exponent and len(exponent.group(1)) > 4:
        raise SqlError(f"The number {text} is too large.")
    if re.fullmatch(r"[0-9]+", text):
        if len(text) > 18:
            raise SqlError(f"The number {text} is too large.")
        return int(text)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise SqlError(f"{text} is not a number.") from None


def _is_number(value):
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


# -- what the subset allows ----------------------------------------------------------


def _check(query):
    for item in query.items:
        _check_select_expr(item.expr)
    if query.items and query.is_aggregate:
        plain = [i.expr for i in query.items if not isinstance(i.expr, Aggregate)]
        if plain:
            raise SqlError(
                "Aggregates cannot be mixed with plain columns (no GROUP BY)."
            )
    if query.where is not None and _contains(query.where, Aggregate):
        raise SqlError("Aggregates are not allowed in WHERE.")
    if any(part == "*" for part in query.source_path[:-1]):
        raise SqlError("[*] may only end the FROM path.")


def _check_select_expr(expr):
    """OSS's projection: a column, a CAST of one, or an aggregate (of any WHERE-style
    expression). `_1 + _2` or `a || b` are refused, as OSS refuses them."""
    if isinstance(expr, Column):
        return
    if isinstance(expr, Cast) and isinstance(expr.operand, Column | Literal):
        return
    if isinstance(expr, Aggregate):
        if expr.operand is not None and _contains(expr.operand, Aggregate):
            raise SqlError("Aggregates cannot be nested.")
        return
    raise SqlError(
        "A select item must be a column, a CAST of a column or an aggregate; "
        "expressions such as || or + are allowed in WHERE only."
    )


def _contains(expr, node_type):
    if isinstance(expr, node_type):
        return True
    children = {
        Unary: lambda e: (e.operand,),
        Binary: lambda e: (e.left, e.right),
        Like: lambda e: (e.operand,),
        IsNull: lambda e: (e.operand,),
        In: lambda e: (e.operand,),
        Between: lambda e: (e.operand, e.low, e.high),
        Cast: lambda e: (e.operand,),
        Aggregate: lambda e: (e.operand,) if e.operand is not None else (),
    }.get(type(expr), lambda e: ())(expr)
    return any(_contains(child, node_type) for child in children)


def columns_in(query):
    """Every Column the query reads, in order of appearance."""
    found = []

    def walk(expr):
        if isinstance(expr, Column):
            found.append(expr)
            return
        for value in (
            vars(expr).values() if hasattr(expr, "__dataclass_fields__") else ()
        ):
            if isinstance(value, tuple):
                for member in value:
                    if hasattr(member, "__dataclass_fields__"):
                        walk(member)
            elif hasattr(value, "__dataclass_fields__"):
                walk(value)

    for item in query.items:
        walk(item.expr)
    if query.where is not None:
        walk(query.where)
    return found
