"""Amazon Q in Connect message templates: the rules, with no HTTP.

    knowledge_bases    the containers (type MESSAGE_TEMPLATES)
    message_templates  the $LATEST draft, and a template at any qualifier
    versions           frozen copies, numbered upward; activation
    search             SearchMessageTemplates
    tags               tags on both kinds of resource
    content            what content holds per channel, its checks, its checksum, the quotas
    attributes         the values of `{{Attributes....}}`, from wherever they come
    rendering          content rendered with attributes
    parsed             parsed templates kept for the next render or write
    sending            the content of a TEMPLATE email for StartOutboundEmailContact
    handlebars         the template language
    identifiers        IDs, ARNs and qualifiers
    errors             qconnect's error codes

Like the domain modules, functions here take a SQLAlchemy connection inside a store
transaction and raise `ServiceError` with the service's error codes.
"""
