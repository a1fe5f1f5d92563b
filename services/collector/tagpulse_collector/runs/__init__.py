"""Collection runs: the check of a request (`plan`), the runs as stored (`store`), collecting a
run page by page (`execute`), and running them in the background of the service (`executor`)."""
