import KithRelay
