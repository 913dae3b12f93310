"""Browser uploads written straight into object temp files (one copy, MD5 on the fly)."""

import mimetypes

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from buckets.errors import is_disk_full
from buckets.storage import ObjectWriter


class UploadedObject(UploadedFile):
    """An uploaded file whose bytes already sit in an ObjectWriter."""

    def __init__(self, writer, name, content_type):
        super().__init__(
            file=None, name=name, content_type=content_type, size=writer.size
        )
        self.writer = writer

    def close(self):
        self.writer.discard()


class ObjectUploadHandler(FileUploadHandler):
    """Each file goes into its own ObjectWriter. A failed write (full disk) stops the
    upload with `failure` set; `discard_all()` removes whatever was not committed,
    also after a cut upload, where Django never tells the handler."""

    def __init__(self, request=None):
        super().__init__(request)
        self.writers = []
        self.failure = ""

    def new_file(self, field_name, file_name, content_type, *args, **kwargs):
        super().new_file(field_name, file_name, content_type, *args, **kwargs)
        self.writer = ObjectWriter()
        self.writers.append(self.writer)

    def receive_data_chunk(self, raw_data, start):
        try:
            self.writer.write(raw_data)
        except OSError as error:
            self.failure = (
                "Not enough free storage for this upload; nothing was saved."
                if is_disk_full(error)
                else "The upload could not be written; nothing was saved."
            )
            raise StopUpload(connection_reset=False) from error

    def discard_all(self):
        for writer in self.writers:
            writer.discard()

    def file_complete(self, file_size):
        content_type = self.content_type
        if not content_type or content_type == "application/octet-stream":
            content_type = (
                mimetypes.guess_type(self.file_name)[0] or "application/octet-stream"
            )
        return UploadedObject(self.writer, self.file_name, content_type)

    def upload_interrupted(self):
        if getattr(self, "writer", None):
            self.writer.discard()
