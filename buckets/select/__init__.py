"""SelectObject and CreateSelectObjectMeta: SQL over CSV and JSON objects, streamed.

sql (the parser), evaluate (values, CAST, aggregates), records (CSV and JSON
readers), run (a query over records, as events), framing (the binary frames),
request (the XML bodies), views (the two operations).
"""
