"""One exception hierarchy. Each error carries an exit code and a message that tells
the user what to do; the CLI catches them in one place (OCRmyPDF's model)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    ok = 0
    some_files_failed = 1  # the batch finished, but at least one file was set aside
    usage = 2  # click's own code for bad options
    bad_input = 3  # the input itself cannot be processed
    missing_dependency = 4  # Tesseract, a language pack, ... is not installed
    backend_unavailable = 5  # the catalog or search server cannot be reached
    backend_error = 6  # the backend answered with an error (auth, mapping, red cluster)
    not_found = 7  # the document, dossier or procedure asked for does not exist
    check_failed = 8  # a verification or evaluation threshold was not met
    interrupted = 130


class DossierError(Exception):
    """Base of every error dossier reports to the user."""

    exit_code: ExitCode = ExitCode.bad_input

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class BadInputError(DossierError):
    """A file that cannot be processed: its reason is recorded and the batch goes on."""

    exit_code = ExitCode.bad_input


class UnsupportedFileError(BadInputError):
    pass


class CorruptFileError(BadInputError):
    pass


class EncryptedPdfError(BadInputError):
    pass


class ImageTooLargeError(BadInputError):
    pass


class MissingDependencyError(DossierError):
    exit_code = ExitCode.missing_dependency


class BackendUnavailableError(DossierError):
    exit_code = ExitCode.backend_unavailable


class BackendError(DossierError):
    exit_code = ExitCode.backend_error


class NotFoundError(DossierError):
    exit_code = ExitCode.not_found


class CheckFailedError(DossierError):
    exit_code = ExitCode.check_failed
