module coio/bench/peers/go

go 1.22
