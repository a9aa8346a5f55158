module coio.invalid/coio

go 1.23
