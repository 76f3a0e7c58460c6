class ComplianceRefused(Exception):
    """A compliance call was refused. The message says why, in the words the pages show; `field`
    names the input it is about, when it is about one, so a form can show it beside that field."""

    def __init__(self, message, *, field: str | None = None):
        super().__init__(message)
        self.field = field
