"""What every command of both packages uses: the one-line errors, atomic output files, the
progress bar, worker processes that honour Ctrl-C, and the image helpers."""
