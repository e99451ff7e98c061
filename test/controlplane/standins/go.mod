module demesne/standins

go 1.22
