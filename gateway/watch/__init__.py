"""The one list+watch layer, split the way client-go's tools/cache is:

- source.py:    what is listed and watched (a kind, maybe narrowed by name or label), on the API
- reflector.py: the loop that keeps a store current (list, watch, resume from the last
                resourceVersion, relist on 410 Gone, bookmarks, a watchdog for silent streams),
                with its source, clock and backoff injected so it is tested without sleeping
- store.py:     the objects themselves and the change events derived from each update
- informer.py:  one kind = source + store + reflector + the listener fan-out; InformerSet starts
                and stops the kinds a process needs together

The gateway, the node agent and `kubectl flows status --watch` all read through here; nothing in
flowgate opens a watch beside it, so API server load does not grow with subscribers."""
