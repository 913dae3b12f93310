"""The `*` (and `?`) patterns of CORS origins and headers and of Referer lists."""


def wildcard_match(pattern, text, *, question_mark=False, fold_case=True):
    """Whether all of `text` matches `pattern`, case-insensitively unless not
    `fold_case`: `*` stands for any run of characters (also none) and, when
    `question_mark`, `?` for any one.

    A greedy walk that backtracks only to the last `*`: at most
    len(pattern) x len(text) steps, never the exponential time a regular
    expression can take on `*a*a*a*...` against a hostile header.
    """
    if fold_case:
        pattern, text = pattern.casefold(), text.casefold()
    p = t = 0
    star = mark = -1
    while t < len(text):
        if p < len(pattern) and (
            pattern[p] == text[t] or (question_mark and pattern[p] == "?")
        ):
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif star >= 0:
            # Let the last `*` swallow one more character and try again from there.
            mark += 1
            p, t = star + 1, mark
        else:
            return False
    return all(char == "*" for char in pattern[p:])
