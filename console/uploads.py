"""Browser uploads written straight into object temp files (one copy, MD5 on the fly)."""

import mimetypes

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

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
    def new_file(self, field_name, file_name, content_type, *args, **kwargs):
        super().new_file(field_name, file_name, content_type, *args, **kwargs)
        self.writer = ObjectWriter()

    def receive_data_chunk(self, raw_data, start):
        self.writer.write(raw_data)

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
