module streamsim

go 1.22
