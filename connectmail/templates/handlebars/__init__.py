"""Handlebars, as Amazon Q in Connect message templates use it.

The language of Handlebars.js: text, `{{path}}` (HTML-escaped when asked), `{{{path}}}` and
`{{&path}}`, comments, `\\{{` escapes, `~` whitespace control and standalone lines, paths
(`a.b`, `a/b`, `this`, `../`, `@index`, `@root`, `[literal]` segments), literals,
subexpressions, hash arguments, block parameters, and the built-in helpers `if` (with
`else` and `else if` chains), `unless`, `each`, `lookup` and `log`, plus the conditional,
string and math helpers AWS documents for message templates (helpers.py). Values follow
JavaScript's rules (values.py). Like AWS, it refuses `with`; partials, decorators and raw
blocks do not exist here.

Two things differ from Handlebars.js on purpose: `each` visits at most 15 items (AWS's
limit), and a `{{path}}` that names nothing keeps its source text in the output and is
reported, which is what RenderMessageTemplate returns and what lets sending refuse an email
that would carry a raw placeholder.

    template = parse("Hi {{Attributes.Customer.FirstName}}")
    rendered = render(template, {"Attributes": {...}}, escape=False)
    rendered.text, rendered.missing
"""

from connectmail.templates.handlebars.parser import parse
from connectmail.templates.handlebars.render import MAX_EACH_ITEMS, Rendered, escape_html, render
from connectmail.templates.handlebars.syntax import HELPERS, Path, Template, TemplateError
from connectmail.templates.handlebars.values import is_truthy, to_text

__all__ = [
    "HELPERS",
    "MAX_EACH_ITEMS",
    "Path",
    "Rendered",
    "Template",
    "TemplateError",
    "escape_html",
    "is_truthy",
    "parse",
    "render",
    "to_text",
]
