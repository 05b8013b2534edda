"""`kubectl flows` / `oc flows`: main.py is the command line, backend.py where answers come from
(the API server itself, or a gateway through gateway/client/), shapes.py the API's spelling of
domain state, output.py how it is printed, completion.py shell completion read off the parser."""
