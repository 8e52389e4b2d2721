"""Rekognition's operations that facelens does not serve: each answers, through a real boto3 client against the
endpoint, a 400 that names it; the table they come from (contract.SERVICE_OPERATIONS) is botocore's model."""

from __future__ import annotations

import pytest

from facelens import contract
from facelens.server import operations
from facelens.server.app import snake_case
from tests.support.endpoint import boto

botocore = pytest.importorskip("botocore")


def _model_operations():
    import botocore.session

    return set(botocore.session.get_session().get_service_model("rekognition").operation_names)


def test_the_table_is_botocores_model():
    listed = [op for names in contract.SERVICE_OPERATIONS.values() for op in names]
    assert len(listed) == len(set(listed))
    assert set(listed) == _model_operations()


def test_every_contract_operation_is_a_face_operation(client):
    served = set(operations(client))
    assert served == set(contract.OPERATIONS)
    assert served <= set(contract.SERVICE_OPERATIONS["faces"])
    for op in _model_operations() - served:  # in process: no such method
        assert not hasattr(client, snake_case(op)), op


def test_not_served_operations_answer_a_clear_error(client, serve):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    not_served = sorted(_model_operations() - set(operations(client)))
    assert {"DetectLabels", "DetectText", "DetectModerationLabels", "DetectProtectiveEquipment",
            "CreateFaceLivenessSession", "CreateStreamProcessor", "DetectCustomLabels"} <= set(not_served)
    with serve(client) as endpoint:
        served = boto(endpoint.url)
        # botocore would refuse most calls without their required members: send them empty
        rek = boto3.client("rekognition", endpoint_url=served.meta.endpoint_url, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="y",
                           config=Config(parameter_validation=False, retries={"max_attempts": 1}))
        for op in not_served:
            with pytest.raises(ClientError) as e:
                getattr(rek, snake_case(op))()
            error = e.value.response["Error"]
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, op
            assert error["Code"] == "UnknownOperationException", op
            assert error["Message"].startswith(f"{op} is an Amazon Rekognition operation ("), error
            assert "does not serve" in error["Message"] and "CompareFaces" in error["Message"]
        # a served one still works on the same connection
        assert "CollectionIds" in served.list_collections()
