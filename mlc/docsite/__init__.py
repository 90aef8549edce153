"""`mlc docs`: the program as a static site — an explorable map of every declaration, a page per
declaration, and an SLO board — built from the IR and the bundle manifest.

One module per job: `model` (the site's data, one versioned JSON document, from the IR),
`verdicts` (every objective's verdict and worst path, as `mlc explain` derives them),
`render` (the HTML pages, through Jinja), `build` (the whole site as a list of files, written
like a bundle), `serve` (a 127.0.0.1 server) and `watch` (rebuild when a source file changes).
"""
