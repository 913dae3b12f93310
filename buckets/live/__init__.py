"""Live channels: RTMP ingest, HLS segmenting and the OSS LiveChannel API."""
